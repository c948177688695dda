"""`mlops status` when AWS cannot be read: exit 1 with one line, never empty tables and "0.000 USD/hour" (a CI job
would read those as "nothing runs")."""

from __future__ import annotations

from typer.testing import CliRunner

from tests.helpers import LOCAL_CONFIG, REPO, closed_url


def cli(config, *args: str, env: dict):
    from mlops_cli.app import app

    return CliRunner().invoke(app, ["-c", str(config), *args], env=env, catch_exceptions=False)


NO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": None,
    "AWS_SECRET_ACCESS_KEY": None,
    "AWS_SESSION_TOKEN": None,
    "AWS_PROFILE": None,
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": None,
    "AWS_CONTAINER_CREDENTIALS_FULL_URI": None,
}


def test_status_with_the_local_aws_down_exits_1_with_one_line():
    result = cli(LOCAL_CONFIG, "status", env={"MLOPS_AWS__ENDPOINT_URL": closed_url()})
    assert result.exit_code == 1
    assert "cannot read AWS" in result.stderr and "cannot reach" in result.stderr
    assert result.stdout == "" and "USD/hour" not in result.output and "Traceback" not in result.output


def test_status_without_credentials_exits_1_with_one_line():
    # The AWS config with no credentials anywhere: the request is refused before it is signed, so nothing leaves
    # the machine (the endpoint is an unresolvable name besides).
    env = {**NO_CREDENTIALS, "MLOPS_AWS__ENDPOINT_URL": "https://sagemaker.mlops-test.invalid"}
    result = cli(REPO / "configs" / "default.yaml", "status", env=env)
    assert result.exit_code == 1, result.output
    assert "cannot read AWS" in result.stderr and "no AWS credentials found" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output
