"""`mlops local env --user NAME` / `--role ARN`: the same export lines as `mlops local env`, with the keys of a local
IAM identity; after `eval`, the AWS CLI and mlops act as that identity (and are refused what it may not do)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from tests.helpers import AWS_CLI, LOCAL_CONFIG

pytestmark = pytest.mark.integration


def exports(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            found[name] = shlex.split(value)[0]
    return found


def shell(local_aws: str, variables: dict[str, str], *command: str) -> subprocess.CompletedProcess:
    """A command in a shell where `eval "$(mlops local env ...)"` set these variables (nothing else of AWS's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_AWS"))}
    return subprocess.run(command, env={**env, **variables}, capture_output=True, text=True, timeout=120, check=False)


def test_local_env_user_acts_as_that_user_in_the_aws_cli_and_mlops(local_aws, mlops, boto_client):
    first = mlops("local", "env", "--user", "ci-env")
    assert first.exit_code == 0, first.output
    variables = exports(first.stdout)
    assert set(variables) == {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
    assert variables["AWS_ENDPOINT_URL"] == local_aws
    again = exports(mlops("local", "env", "--user", "ci-env").stdout)
    assert again["AWS_ACCESS_KEY_ID"] == variables["AWS_ACCESS_KEY_ID"]  # the same key, not a new one each time
    identity = shell(local_aws, variables, str(AWS_CLI), "sts", "get-caller-identity", "--output", "json")
    assert json.loads(identity.stdout)["Arn"] == "arn:aws:iam::123456789012:user/ci-env", identity.stderr
    listed = shell(local_aws, variables, str(AWS_CLI), "sagemaker", "list-endpoints")
    assert listed.returncode != 0 and "AccessDeniedException" in listed.stderr
    assert "user/ci-env is not authorized to perform: sagemaker:ListEndpoints" in listed.stderr
    command = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "status"]
    refused = shell(local_aws, {**variables, "MLOPS_AWS__ENDPOINT_URL": local_aws}, *command)  # reads what it may
    assert "user/ci-env is not authorized to perform: sagemaker:ListEndpoints" in refused.stderr, refused.stderr
    boto_client("iam").attach_user_policy(UserName="ci-env", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert shell(local_aws, variables, str(AWS_CLI), "sagemaker", "list-endpoints").returncode == 0


def test_local_env_role_acts_as_a_session_of_that_role(local_aws, mlops, boto_client):
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = boto_client("iam").create_role(RoleName="ci-env-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    result = mlops("local", "env", "--role", arn)
    assert result.exit_code == 0, result.output
    variables = exports(result.stdout)
    assert "AWS_SESSION_TOKEN" in variables
    identity = shell(local_aws, variables, str(AWS_CLI), "sts", "get-caller-identity", "--output", "json")
    assert json.loads(identity.stdout)["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/ci-env-role/")


@pytest.mark.parametrize("flags", [["--user", "no spaces"], ["--role", "not-an-arn"], ["--user", "a", "--role", "b"]])
def test_local_env_refuses_a_bad_identity_as_a_usage_error(mlops, flags):
    result = mlops("local", "env", *flags)
    assert result.exit_code == 2, result.output
