"""`mlops concurrency set` against the local AWS, checked with the AWS CLI and boto3."""

from __future__ import annotations

import json

import pytest

from tests.helpers import aws_cli

PROJECT = "lconc"
FUNCTION = f"{PROJECT}-invoke"
ENV = {"MLOPS_PROJECT": PROJECT}


@pytest.fixture(scope="module")
def deployed(local_aws):
    """One function with its `live` alias for this module's tests (deployed through the CLI)."""
    from typer.testing import CliRunner

    from mlops_cli.app import app
    from tests.helpers import LOCAL_CONFIG

    result = CliRunner().invoke(app, ["-c", str(LOCAL_CONFIG), "lambda", "deploy"], env=ENV, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return FUNCTION


def snapshot(lam) -> tuple:
    """Everything `concurrency set` could change, with modification times."""
    reserved = lam.get_function_concurrency(FunctionName=FUNCTION).get("ReservedConcurrentExecutions")
    configs = lam.list_provisioned_concurrency_configs(FunctionName=FUNCTION)["ProvisionedConcurrencyConfigs"]
    return reserved, json.dumps(configs, sort_keys=True, default=str)


def concurrency(mlops, *args):
    return mlops("concurrency", "set", "--function", FUNCTION, *args, env=ENV)


def test_set_then_aws_cli_shows_both_then_rerun_is_unchanged(mlops, local_aws, deployed, boto_client):
    result = concurrency(mlops, "--reserved", "10", "--provisioned", "1", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["changes"] == [
        f"PutFunctionConcurrency {FUNCTION} = 10",
        f"PutProvisionedConcurrencyConfig {FUNCTION}:live = 1",
    ]
    assert data["reserved"] == 10 and data["provisioned"]["status"] == "READY"
    assert "IN_PROGRESS" in result.stderr and "READY" in result.stderr  # it waited for the allocation

    assert aws_cli(local_aws, "lambda", "get-function-concurrency", "--function-name", FUNCTION) == {
        "ReservedConcurrentExecutions": 10
    }
    provisioned = aws_cli(
        local_aws, "lambda", "get-provisioned-concurrency-config", "--function-name", FUNCTION, "--qualifier", "live"
    )
    assert provisioned["RequestedProvisionedConcurrentExecutions"] == 1
    assert provisioned["AllocatedProvisionedConcurrentExecutions"] == 1 and provisioned["Status"] == "READY"

    lam = boto_client("lambda")
    before = snapshot(lam)
    again = concurrency(mlops, "--reserved", "10", "--provisioned", "1")
    assert again.exit_code == 0, again.output
    assert "unchanged" in again.stderr and "nothing was sent" in again.stderr
    assert "(unchanged)" in again.stdout
    assert snapshot(lam) == before

    # Defaults come from the config (lambda.reserved_concurrency 10, provisioned_concurrency 1): unchanged too.
    defaults = concurrency(mlops, "-o", "json")
    assert defaults.exit_code == 0 and json.loads(defaults.stdout)["changes"] == []

    shown = concurrency(mlops, "--show", "-o", "json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["provisioned"]["requested"] == 1 and snapshot(lam) == before


VALIDATION_ERRORS = {
    "negative reserved": (("--reserved", "-1", "--provisioned", "0"), "--reserved must be an integer >= 0"),
    "negative provisioned": (("--reserved", "5", "--provisioned", "-2"), "--provisioned must be an integer >= 0"),
    "provisioned over reserved": (
        ("--reserved", "2", "--provisioned", "3"),
        "--provisioned 3 is more than --reserved 2",
    ),
    "reserved over the account": (("--reserved", "100000", "--provisioned", "1"), "does not fit the account"),
    "provisioned over the unreserved pool": (
        ("--unreserved", "--provisioned", "100000"),
        "does not fit the account's unreserved concurrency",
    ),
    "clear with values": (("--clear", "--reserved", "3"), "--clear takes no --reserved/--unreserved/--provisioned"),
    "provisioned under a reservation of 0": (
        ("--reserved", "0", "--provisioned", "1"),
        "a reservation of 0 lets nothing run; --unreserved removes it",
    ),
    "the config's provisioned over a reservation of 0": (
        ("--reserved", "0"),
        "config lambda.provisioned_concurrency 1 is more than --reserved 0",  # named as the user can change it
    ),
    "reserved and unreserved": (("--reserved", "2", "--unreserved"), "give --reserved N or --unreserved, not both"),
    "a negative budget": (
        ("--reserved", "2", "--provisioned", "1", "--max-cost", "-1"),
        "--max-cost must be a finite number >= 0",
    ),
    "over the budget": (("--reserved", "2", "--provisioned", "2", "--max-cost", "0.01"), "--max-cost 0.01 USD"),
    "clear and show": (("--clear", "--show"), "cannot be combined"),
    "not an integer": (("--reserved", "ten"), "Invalid value for '--reserved'"),
}


@pytest.mark.parametrize("name", VALIDATION_ERRORS)
def test_validation_errors_exit_2_and_change_nothing(mlops, deployed, boto_client, name):
    args, message = VALIDATION_ERRORS[name]
    lam = boto_client("lambda")
    before = snapshot(lam)
    result = concurrency(mlops, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert snapshot(lam) == before


def test_reserved_capacity_counts_the_functions_own_reservation(mlops, deployed, boto_client):
    """The most a function may reserve: unreserved + what it already holds - AWS's 100."""
    lam = boto_client("lambda")
    unreserved = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    held = lam.get_function_concurrency(FunctionName=FUNCTION).get("ReservedConcurrentExecutions") or 0
    provisioned = snapshot(lam)[1]
    too_many = concurrency(mlops, "--reserved", str(unreserved + held - 99), "--provisioned", "1")
    assert too_many.exit_code == 2 and f"at most {unreserved + held - 100} can be reserved" in too_many.stderr
    assert snapshot(lam)[1] == provisioned


def test_provisioned_needs_a_published_version(mlops, deployed, boto_client):
    lam = boto_client("lambda")
    lam.create_alias(FunctionName=FUNCTION, Name="latest", FunctionVersion="$LATEST")
    result = concurrency(mlops, "--alias", "latest", "--reserved", "10", "--provisioned", "1")
    assert result.exit_code == 2 and "points at $LATEST" in result.stderr
    with pytest.raises(lam.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lam.get_provisioned_concurrency_config(FunctionName=FUNCTION, Qualifier="latest")


def test_dry_run_prints_the_requests_and_sends_nothing(mlops, deployed, boto_client):
    lam = boto_client("lambda")
    before = snapshot(lam)
    result = concurrency(mlops, "--reserved", "7", "--provisioned", "2", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert {
        step["operation"]: step["params"].get(
            "ReservedConcurrentExecutions", step["params"].get("ProvisionedConcurrentExecutions")
        )
        for step in plan["steps"]
    }["PutProvisionedConcurrencyConfig"] == 2
    assert snapshot(lam) == before


def test_lowering_and_clearing(mlops, deployed, boto_client):
    lam = boto_client("lambda")
    assert concurrency(mlops, "--reserved", "4", "--provisioned", "2").exit_code == 0
    # Provisioned goes down before the reservation under it shrinks (AWS refuses the other order).
    lowered = concurrency(mlops, "--reserved", "1", "--provisioned", "1", "-o", "json")
    assert lowered.exit_code == 0, lowered.output
    assert json.loads(lowered.stdout)["changes"] == [
        f"PutProvisionedConcurrencyConfig {FUNCTION}:live = 1",
        f"PutFunctionConcurrency {FUNCTION} = 1",
    ]
    cleared = concurrency(mlops, "--clear", "-o", "json")
    assert cleared.exit_code == 0, cleared.output
    assert json.loads(cleared.stdout)["changes"] == [
        f"DeleteProvisionedConcurrencyConfig {FUNCTION}:live",
        f"DeleteFunctionConcurrency {FUNCTION}",
    ]
    assert snapshot(lam) == (None, "[]")
    again = concurrency(mlops, "--clear")
    assert again.exit_code == 0 and "unchanged" in again.stderr


def test_failed_allocation_is_reported_with_its_reason(mlops, boto_client, project, project_env):
    """Provisioning runs the function's init; a version whose init fails ends FAILED, and the CLI says why."""
    assert mlops("lambda", "deploy", env=project_env).exit_code == 0
    lam = boto_client("lambda")
    function = f"{project}-invoke"
    # A broken release: the endpoint name is gone from the environment, so the handler's init fails.
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": {}})
    version = lam.publish_version(FunctionName=function)["Version"]
    lam.update_alias(FunctionName=function, Name="live", FunctionVersion=version)

    result = mlops("concurrency", "set", "--reserved", "3", "--provisioned", "1", env=project_env)
    assert result.exit_code == 1, result.output
    assert (
        f"provisioned concurrency on {function}:live FAILED: FUNCTION_ERROR_INIT_FAILURE: KeyError: "
        "'ENDPOINT_NAME'" in result.stderr
    )
    status = lam.get_provisioned_concurrency_config(FunctionName=function, Qualifier="live")
    assert status["Status"] == "FAILED" and "ENDPOINT_NAME" in status["StatusReason"]


def test_reserved_0_throttles_every_invocation_and_unreserved_removes_it(mlops, local_aws, deployed, boto_client):
    """As on AWS, PutFunctionConcurrency 0 is the off switch; --show reads it back as 0, also after the AWS CLI
    set it (GetFunction in the local AWS shows it too: moto's leaves a 0 out)."""
    lam = boto_client("lambda")
    assert concurrency(mlops, "--clear").exit_code == 0
    off = concurrency(mlops, "--reserved", "0", "--provisioned", "0", "-o", "json")
    assert off.exit_code == 0, off.output
    assert json.loads(off.stdout)["changes"] == [f"PutFunctionConcurrency {FUNCTION} = 0"]
    with pytest.raises(lam.exceptions.TooManyRequestsException) as refused:
        lam.invoke(FunctionName=FUNCTION, Qualifier="live", Payload=b"{}")
    assert refused.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    # Waiting cannot help: the command says why it is throttled and how to lift it, not "try again later".
    invoked = mlops("lambda", "invoke", "--url", "https://example.com/7.png", env=ENV)
    assert invoked.exit_code == 1, invoked.output
    assert "reserved concurrency of 0 throttles every invocation by design" in " ".join(invoked.stderr.split())
    assert "mlops concurrency set --unreserved" in invoked.stderr and "try again later" not in invoked.stderr
    shown = concurrency(mlops, "--show")
    assert shown.exit_code == 0 and "0 (every invocation throttled)" in shown.stdout
    assert aws_cli(local_aws, "lambda", "get-function", "--function-name", FUNCTION)["Concurrency"] == {
        "ReservedConcurrentExecutions": 0
    }

    back = concurrency(mlops, "--unreserved", "--provisioned", "0", "-o", "json")
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["changes"] == [f"DeleteFunctionConcurrency {FUNCTION}"]
    assert json.loads(back.stdout)["reserved"] is None
    assert lam.invoke(FunctionName=FUNCTION, Qualifier="live", Payload=b"{}")["StatusCode"] == 200

    aws_cli(
        local_aws,
        "lambda",
        "put-function-concurrency",
        "--function-name",
        FUNCTION,
        "--reserved-concurrent-executions",
        "0",
    )
    assert json.loads(concurrency(mlops, "--show", "-o", "json").stdout)["reserved"] == 0
    assert concurrency(mlops, "--clear").exit_code == 0


def test_the_cost_line_comes_before_the_change(mlops, deployed):
    result = concurrency(mlops, "--reserved", "2", "--provisioned", "1", "--max-cost", "100")
    assert result.exit_code == 0, result.output
    assert "estimated cost: provisioned concurrency: $" in result.stderr and "/month" in result.stderr
    assert concurrency(mlops, "--clear").exit_code == 0


def test_missing_function_is_a_usage_error(mlops, local_aws):
    result = mlops("concurrency", "set", "--function", "no-such-function", "--reserved", "1", "--provisioned", "1")
    assert result.exit_code == 2 and "does not exist" in result.stderr
