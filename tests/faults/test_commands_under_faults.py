"""The CLI under AWS's bad days, on the session local AWS with faults switched at run time: every kind of call
the commands make fails once (5xx or throttling) and is retried away; retries that run out end in one line
naming the operation; access denied mid-command ends in one line naming the action, leaves nothing half-made,
and the same command run again completes. One project of its own, so its resources are its own.

The last test checks the coverage: every operation the commands sent was faulted at least once, and so was
every step of their --dry-run plans and every AWS service the CLI's code makes clients for.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_cli.local.core import manager
from tests.helpers import LOCAL_CONFIG, REPO

PROJECT = "faulty"
ENDPOINT = f"{PROJECT}-endpoint"
ENV = {"MLOPS_PROJECT": PROJECT}
EVERY_FIRST_CALL = {"operation": "*", "error": "InternalError", "on_call": 1}

pytestmark = pytest.mark.usefixtures("local_aws")

seen: set[str] = set()  # every service:Operation the local AWS counted while rules were set, over the module
struck: set[str] = set()  # and those it answered with an error
planned: set[str] = set()  # the steps of the --dry-run plans of the commands run here


def mlops(*args: str, env: dict[str, str] | None = None):
    from mlops_cli.app import app

    return CliRunner().invoke(app, ["-c", str(LOCAL_CONFIG), *args], env={**ENV, **(env or {})}, catch_exceptions=False)


def ok(*args: str):
    result = mlops(*args)
    assert result.exit_code == 0, result.output[-3000:]
    return result


def plan_of(*args: str) -> None:
    """Note the (service, operation) steps of a command's --dry-run plan."""
    plan = json.loads(ok("--dry-run", "-o", "json", *args).stdout)
    for part in plan if isinstance(plan, list) else [plan]:
        planned.update(f"{step['service']}:{step['operation']}" for step in part.get("steps", []))


def one_line_failure(result, *expected: str) -> str:
    """A failed command: exit 1, one `error:` line holding `expected`, no traceback."""
    assert result.exit_code == 1, result.output[-3000:]
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output[-3000:]
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def faults(local_aws: str):
    """Set fault rules for one test; what they counted and struck is kept for the coverage test."""

    def install(*rules: dict) -> None:
        keep(manager.fault_report(local_aws))
        manager.set_faults(local_aws, list(rules))

    def keep(report: dict) -> None:
        seen.update(report["seen"])
        struck.update(hit["operation"] for hit in report["struck"])

    try:
        yield install
    finally:
        keep(manager.fault_report(local_aws))
        manager.set_faults(local_aws, None)


@pytest.fixture(scope="module")
def model_uri(trained_job) -> str:
    return trained_job.model_data


@pytest.fixture(scope="module")
def image(digits_dir: Path) -> Path:
    return next((digits_dir / "test").glob("*/*.png"))


def project_names(boto_client, kind: str) -> list[str]:
    sagemaker = boto_client("sagemaker")
    if kind == "models":
        return [m["ModelName"] for m in sagemaker.list_models(NameContains=PROJECT)["Models"]]
    return [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs(NameContains=PROJECT)["EndpointConfigs"]]


def test_access_denied_mid_deploy_undoes_it_and_a_rerun_completes(faults, model_uri, boto_client, local_aws):
    plan_of("deploy", "--model", model_uri, "--autoscale", "max=2")
    faults({"operation": "sagemaker:CreateEndpoint", "error": "AccessDenied"}, EVERY_FIRST_CALL)
    denied = mlops("deploy", "--model", model_uri, "--autoscale", "max=2")
    one_line_failure(denied, "access denied", "sagemaker:CreateEndpoint", "undone")
    assert project_names(boto_client, "models") == [] and project_names(boto_client, "configs") == []

    # The same command again: every SageMaker call throttled once, every other call a 500 once, all retried away.
    faults({"operation": "sagemaker:*", "error": "Throttling", "on_call": 1}, EVERY_FIRST_CALL)
    done = json.loads(ok("-o", "json", "deploy", "--model", model_uri, "--autoscale", "max=2").stdout)
    assert done["action"] == "create" and done["status"] == "InService"
    assert len(project_names(boto_client, "models")) == 1 and len(project_names(boto_client, "configs")) == 1
    report = manager.fault_report(local_aws)
    throttled = {hit["operation"] for hit in report["struck"] if hit["error"] == "Throttling"}
    assert {"sagemaker:CreateModel", "sagemaker:CreateEndpoint", "sagemaker:DescribeEndpoint"} <= throttled


def test_retries_that_run_out_end_in_one_line(faults, image):
    faults({"operation": "sagemaker-runtime:InvokeEndpoint", "error": "ServiceUnavailable", "calls": [1, 4]})
    one_line_failure(mlops("invoke", str(image)), "InvokeEndpoint", "ServiceUnavailable")
    faults({"operation": "sagemaker:DescribeEndpoint", "error": "Throttling", "calls": [1, 4]})
    one_line_failure(mlops("autoscale", "--max", "3"), "throttled DescribeEndpoint", "after 4 attempts")


def test_the_users_own_retry_settings_win(faults):
    """AWS_MAX_ATTEMPTS (or max_attempts in the AWS config profile) is the user's to set, as for the AWS CLI."""
    faults({"operation": "sagemaker:DescribeEndpoint", "error": "Throttling", "calls": [1, 2]})
    one_line_failure(
        mlops("autoscale", "--max", "3", env={"AWS_MAX_ATTEMPTS": "2"}),
        "throttled DescribeEndpoint",
        "after 2 attempts",
    )


def test_access_denied_before_a_launch_leaves_only_what_a_rerun_uses(faults, boto_client, digits_in_s3):
    plan_of("train")
    plan_of("train-ec2")
    plan_of("tune")
    faults(
        {"operation": "sagemaker:CreateTrainingJob", "error": "AccessDenied"},
        {"operation": "sagemaker:CreateHyperParameterTuningJob", "error": "AccessDenied"},
        {"operation": "ec2:RunInstances", "error": "AccessDenied"},
        EVERY_FIRST_CALL,
    )
    one_line_failure(mlops("train"), "access denied", "sagemaker:CreateTrainingJob")
    one_line_failure(mlops("tune"), "access denied", "sagemaker:CreateHyperParameterTuningJob")
    one_line_failure(mlops("train-ec2"), "access denied", "ec2:RunInstances")
    sagemaker = boto_client("sagemaker")
    assert sagemaker.list_training_jobs(NameContains=PROJECT)["TrainingJobSummaries"] == []
    assert sagemaker.list_hyper_parameter_tuning_jobs(NameContains=PROJECT)["HyperParameterTuningJobSummaries"] == []
    from mlops_cli.services.ec2.job import JOB_POLICY_PREFIX

    # A job that fails in its first second (its data channel is empty), so `train` follows it to the end, reading
    # its status and logs, under a fault on the first call of each operation too.
    faults(EVERY_FIRST_CALL)
    failed = mlops("train", env={"MLOPS_DATA__S3_PREFIX": "nothing-here"})
    one_line_failure(failed, "failed: ClientError: No S3 objects found")

    iam = boto_client("iam")
    roles = [role["RoleName"] for role in iam.list_roles()["Roles"] if role["RoleName"].startswith(PROJECT)]
    assert roles  # the roles stay for the next run (which converges them), but no per-job policy is left on them
    for role in roles:
        assert not any(n.startswith(JOB_POLICY_PREFIX) for n in iam.list_role_policies(RoleName=role)["PolicyNames"])


def test_every_command_rides_out_a_fault_on_its_first_call_of_each_operation(faults, image, tmp_path):
    data = tmp_path / "data"
    for split in ("train", "valid", "test"):
        (data / split / "000.zero").mkdir(parents=True)
        (data / split / "000.zero" / "a.png").write_bytes(image.read_bytes())
    plan_of("lambda", "deploy")
    plan_of("autoscale", "--max", "3")
    plan_of("teardown", "--all", "--lambda", "--yes")
    faults({"operation": "lambda:CreateAlias", "error": "AccessDenied"}, EVERY_FIRST_CALL)
    one_line_failure(mlops("lambda", "deploy"), "access denied", "lambda:CreateAlias")
    faults(EVERY_FIRST_CALL)
    assert json.loads(ok("-o", "json", "lambda", "deploy").stdout)["alias"] == "live"  # the re-run completes it
    plan_of("concurrency", "set", "--reserved", "2", "--provisioned", "0")  # reads the function: now it exists
    ok("data", "upload", str(data), "--to", f"s3://mlops-local/{PROJECT}/data")
    ok("invoke", str(image))
    ok("autoscale", "--max", "3")
    ok("lambda", "invoke", str(image))
    ok("concurrency", "set", "--reserved", "2", "--provisioned", "0")
    ok("status")
    ok("audit-iam", "--fail-on", "never")
    ok("teardown", "--all", "--lambda", "--yes")


def test_every_kind_of_call_was_faulted():
    """Every operation the commands above sent was answered with an error at least once (and they coped), as was
    every step their plans name; every AWS service the CLI makes clients for is among them."""
    assert seen and seen <= struck, sorted(seen - struck)
    assert planned <= struck, sorted(planned - struck)
    assert clients_in_code() <= {name.split(":")[0] for name in struck}, sorted(clients_in_code())


def clients_in_code() -> set[str]:
    """The services the CLI's own code (not the local AWS, nor the Lambda function's code) makes clients for:
    every literal `client("<service>")`, and every Step("<service>", ...) / plan.add("<service>", ...)."""
    from mlops_cli.local.core.validate import SERVICES

    found: set[str] = set()
    for path in (REPO / "mlops_cli").rglob("*.py"):
        if {"local", "lambda_function"} & set(path.relative_to(REPO / "mlops_cli").parts):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in ("client", "Step", "add") and node.args[0].value in SERVICES:
                    found.add(node.args[0].value)
    return found
