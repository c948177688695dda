"""Every bad --autoscale / autoscale / deploy / invoke / teardown input: exit 2, a clear one-line message, and no
AWS call. The AWS endpoint is a closed loopback port here, so any call would fail differently (exit 1,
"cannot reach")."""

from __future__ import annotations

import pytest

from mlops_cli.services.deploy.autoscaling import ScalingSettings, parse_spec
from tests.helpers import closed_url


@pytest.fixture
def offline(mlops):
    """The CLI with every AWS call bound to fail: exit 2 plus our message proves none was made."""
    env = {"MLOPS_AWS__ENDPOINT_URL": closed_url()}

    def run(*args: str, input: str | None = None):
        result = mlops(*args, env=env, input=input)
        assert "cannot reach" not in result.output, result.output
        assert "Traceback" not in result.output
        return result

    return run


DEFAULTS = ScalingSettings(min=1, max=2, target=5.0, scale_in_cooldown=30, scale_out_cooldown=30)


def test_spec_sets_only_the_keys_given():
    assert parse_spec("max=4", DEFAULTS) == ScalingSettings(1, 4, 5.0, 30, 30)
    assert parse_spec(
        " min=2 , max=3,target=7.5,scale-in-cooldown=0,scale-out-cooldown=600", DEFAULTS
    ) == ScalingSettings(2, 3, 7.5, 0, 600)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "needs key=value pairs"),
        ("max", "'max' is not key=value"),
        ("max=2,", "'' is not key=value"),
        ("maximum=2", "unknown key 'maximum'"),
        ("max=2,max=3", "'max' is given twice"),
        ("max=two", "max must be a whole number, got 'two'"),
        ("max=2.5", "max must be a whole number"),
        ("max=-1", "max must be a whole number"),
        ("max=0", "--autoscale max must be at least 1 (got 0)"),
        ("min=0", "--autoscale min must be at least 1 (got 0)"),
        ("min=3,max=2", "--autoscale min (3) must be <= --autoscale max (2)"),
        ("min=3", "--autoscale min (3) must be <= --autoscale max (2)"),
        ("target=0", "target must be a number > 0"),
        ("target=abc", "target must be a number > 0, got 'abc'"),
        ("target=inf", "target must be a number > 0, got 'inf'"),
        ("scale-in-cooldown=-5", "scale-in-cooldown must be a whole number"),
        ("scale-out-cooldown=1e3", "scale-out-cooldown must be a whole number"),
    ],
)
def test_bad_autoscale_spec_is_refused_before_any_call(offline, spec, message):
    result = offline("deploy", "--autoscale", spec)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--min", "0"], "--min must be at least 1 (got 0)"),
        (["--max", "0"], "--max must be at least 1 (got 0)"),
        (["--min", "3", "--max", "2"], "--min (3) must be <= --max (2)"),
        (["--min", "3"], "--min (3) must be <= --max (2)"),  # max from the config (2)
        (["--target", "0"], "--target must be a number > 0"),
        (["--target", "-1"], "--target must be a number > 0"),
        (["--target", "nan"], "--target must be a number > 0"),
        (["--scale-in-cooldown", "-1"], "--scale-in-cooldown must be >= 0 seconds (got -1)"),
        (["--scale-out-cooldown", "-30"], "--scale-out-cooldown must be >= 0 seconds (got -30)"),
        (["--off", "--show"], "give --off or --show, not both"),
        (["--off", "--max", "3"], "--max cannot be combined with --off"),
        (["--show", "--min", "1", "--target", "3"], "--min, --target cannot be combined with --show"),
        (["--max", "two"], "Invalid value for '--max'"),
        (["--endpoint", "bad_name!"], "deploy.endpoint_name"),
    ],
)
def test_bad_autoscale_flags_are_refused_before_any_call(offline, args, message):
    result = offline("autoscale", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "s3://bucket-only"], "--model must be an S3 object URI"),
        (["--model", "https://example.com/model.tar.gz"], "--model must be an S3 object URI"),
        (["--model", "s3://b/m.tar.gz", "--job", "j"], "give --model or --job, not both"),
        # On AWS the endpoint would fail its health check minutes later: the serving role may not read it.
        (["--model", "s3://mlops-local/digits/models/model.tar.gz"], "outside what the project's generated serving"),
        (
            ["--model", "s3://mlops-local/other/models/x/model.tar.gz"],
            "(s3://mlops-local/digits/models/*/model.tar.gz)",
        ),
        (
            ["--autoscale", "max=2", "--no-wait"],
            "--autoscale is applied once the endpoint is InService, so it needs --wait",
        ),
        (["--instance-type", "m5.large"], "deploy.instance_type"),
        (["--instance-type", "ml.inf1.xlarge"], "needs a Neuron image"),
        (["--instance-count", "0"], "deploy.instance_count"),
    ],
)
def test_bad_deploy_flags_are_refused_before_any_call(offline, args, message):
    result = offline("deploy", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_bad_invoke_inputs_are_refused_before_any_call(offline, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    cases = [
        ([str(text)], "is not a JPEG, PNG, GIF, BMP or WebP image"),
        ([str(tmp_path / "missing.png")], "no such image file"),
        (["ftp://example.com/a.png"], "only http:// and https:// URLs"),
        ([str(text), "--top-k", "0"], "--top-k must be between 1 and 100 (got 0)"),
        ([str(text), "--top-k", "101"], "--top-k must be between 1 and 100"),
    ]
    for args, message in cases:
        result = offline("invoke", *args)
        assert result.exit_code == 2, result.output
        assert message in result.output


def test_teardown_refuses_to_run_unconfirmed_without_a_terminal(offline):
    result = offline("teardown", "--all")
    assert result.exit_code == 2
    assert "pass --yes to confirm" in result.output
    result = offline("teardown", "--all", "--endpoint", "x", "--yes")
    assert result.exit_code == 2
    assert "give --endpoint NAME or --all, not both" in result.output
