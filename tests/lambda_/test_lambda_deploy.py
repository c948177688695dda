"""`mlops lambda deploy` and `mlops lambda invoke` against the local AWS (each test in a project of its own)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

import pytest
from lambda_helpers import HANDLER_FILE

from tests.helpers import LOCAL_CONFIG

ACCOUNT = "123456789012"


def deploy(mlops, env, *args):
    result = mlops("-o", "json", "lambda", "deploy", *args, env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr


def expected_policy(project: str, function: str | None = None) -> dict:
    function = function or f"{project}-invoke"
    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{function}"
    return {
        "sagemaker": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{project}-endpoint",
        "logs": sorted([group, f"{group}:*"]),
    }


def role_documents(iam, project: str) -> tuple[dict, dict[str, dict], list[str]]:
    role = iam.get_role(RoleName=f"{project}-lambda-invoke")["Role"]
    names = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    inline = {name: iam.get_role_policy(RoleName=role["RoleName"], PolicyName=name)["PolicyDocument"] for name in names}
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]]
    return role, inline, attached


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def assert_least_privilege(iam, project: str) -> None:
    role, inline, attached = role_documents(iam, project)
    assert attached == []
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole" and statement["Effect"] == "Allow"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    [document] = inline.values()
    granted = {}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow" and "Condition" not in statement and "NotAction" not in statement
        for action in as_list(statement["Action"]):
            granted[action] = sorted(as_list(statement["Resource"]))
    expected = expected_policy(project)
    assert granted == {
        "sagemaker:InvokeEndpoint": [expected["sagemaker"]],
        "logs:CreateLogGroup": expected["logs"],
        "logs:CreateLogStream": expected["logs"],
        "logs:PutLogEvents": expected["logs"],
    }


def test_deploy_creates_role_function_version_and_alias(mlops, local_aws, boto_client, project, project_env):
    data, stderr = deploy(mlops, project_env)
    function = f"{project}-invoke"
    assert data["changed"] and data["version"] == "1" and data["alias"] == "live"
    assert data["changes"] == [
        f"CreateRole {project}-lambda-invoke",
        "PutRolePolicy invoke-endpoint-and-write-logs",
        f"CreateFunction {function}",
        f"PublishVersion {function}",
        "CreateAlias live",
    ]
    assert "does not exist (yet)" in stderr  # no endpoint deployed in this project
    assert_least_privilege(boto_client("iam"), project)

    lam = boto_client("lambda")
    got = lam.get_function(FunctionName=function)
    config = got["Configuration"]
    assert (config["Runtime"], config["Handler"], config["MemorySize"], config["Timeout"], config["Architectures"]) == (
        "python3.12",
        "handler.lambda_handler",
        256,
        30,
        ["arm64"],
    )
    assert config["Environment"]["Variables"] == {"ENDPOINT_NAME": f"{project}-endpoint"}
    assert config["Role"] == f"arn:aws:iam::{ACCOUNT}:role/{project}-lambda-invoke"
    assert got["Tags"] == {"mlops:project": project}
    assert lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"] == "1"
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=function)["Versions"]]
    assert versions == ["$LATEST", "1"]
    assert config["CodeSha256"] == data["code_sha256"]


def test_package_is_one_file_and_byte_for_byte_reproducible(tmp_path):
    from mlops_cli.services.lambda_.function import build_package, code_sha256

    first, second = build_package(), build_package()
    assert bytes(first) == bytes(second)
    assert code_sha256(first) == base64.b64encode(hashlib.sha256(first).digest()).decode()
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        [entry] = archive.infolist()
        assert entry.filename == "handler.py"
        assert archive.read(entry) == HANDLER_FILE.read_bytes()
        assert entry.date_time == (1980, 1, 1, 0, 0, 0)
        assert entry.external_attr >> 16 == 0o100644
    changed = tmp_path / "handler.py"
    changed.write_bytes(HANDLER_FILE.read_bytes() + b"\n# changed\n")
    assert code_sha256(build_package(changed)) != code_sha256(first)


def test_rerun_changes_nothing_and_says_so(mlops, boto_client, project, project_env):
    first, _ = deploy(mlops, project_env)
    role_before = role_documents(boto_client("iam"), project)
    lam = boto_client("lambda")
    modified_before = lam.get_function_configuration(FunctionName=f"{project}-invoke")["LastModified"]

    again, stderr = deploy(mlops, project_env)
    assert again["changed"] is False and again["changes"] == []
    assert "unchanged" in stderr and "nothing was sent" in stderr
    assert again["version"] == first["version"] == "1"
    assert role_documents(boto_client("iam"), project) == role_before
    assert lam.get_function_configuration(FunctionName=f"{project}-invoke")["LastModified"] == modified_before
    assert len(lam.list_versions_by_function(FunctionName=f"{project}-invoke")["Versions"]) == 2

    table = mlops("lambda", "deploy", env=project_env)
    assert table.exit_code == 0 and "Lambda function unchanged" in table.stdout


def test_flags_update_the_function_and_point_another_alias(mlops, boto_client, project, project_env):
    deploy(mlops, project_env)
    data, _ = deploy(mlops, project_env, "--memory", "512", "--timeout", "20", "--alias", "canary")
    function = f"{project}-invoke"
    assert data["changes"] == [
        f"UpdateFunctionConfiguration {function}",
        f"PublishVersion {function}",
        "CreateAlias canary",
    ]
    lam = boto_client("lambda")
    assert lam.get_alias(FunctionName=function, Name="canary")["FunctionVersion"] == "2"
    assert lam.get_alias(FunctionName=function, Name="live")["FunctionVersion"] == "1"
    version = lam.get_function_configuration(FunctionName=function, Qualifier="2")
    assert (version["MemorySize"], version["Timeout"]) == (512, 20)
    # Flags are validated before anything is sent.
    bad = mlops("lambda", "deploy", "--memory", "64", env=project_env)
    assert bad.exit_code == 2 and "--memory" in bad.output


def test_endpoint_and_name_flags_scope_the_role_policy(mlops, boto_client, project, project_env):
    data, _ = deploy(mlops, project_env, "--endpoint", "Other-Endpoint", "--name", f"{project}-fn")
    assert data["function"] == f"{project}-fn" and data["endpoint"] == "Other-Endpoint"
    _, inline, _ = role_documents(boto_client("iam"), project)
    [document] = inline.values()
    resources = sorted(r for s in document["Statement"] for r in as_list(s["Resource"]))
    # ARNs carry SageMaker endpoint names in lower case.
    assert f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/other-endpoint" in resources
    assert f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{project}-fn" in resources
    env = boto_client("lambda").get_function_configuration(FunctionName=f"{project}-fn")["Environment"]
    assert env["Variables"] == {"ENDPOINT_NAME": "Other-Endpoint"}


def test_drift_is_repaired(mlops, boto_client, project, project_env):
    deploy(mlops, project_env)
    iam, lam = boto_client("iam"), boto_client("lambda")
    role = f"{project}-lambda-invoke"
    function = f"{project}-invoke"
    # What the course project did, and more: a FullAccess policy, a broad inline policy, an open trust.
    iam.attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    iam.put_role_policy(
        RoleName=role,
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    iam.update_assume_role_policy(
        RoleName=role,
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
            }
        ),
    )
    lam.update_function_configuration(FunctionName=function, Environment={"Variables": {"ENDPOINT_NAME": "x"}})

    data, _ = deploy(mlops, project_env)
    assert data["changes"] == [
        f"UpdateAssumeRolePolicy {role}",
        "DetachRolePolicy arn:aws:iam::aws:policy/AmazonSageMakerFullAccess",
        "DeleteRolePolicy everything",
        f"UpdateFunctionConfiguration {function}",
        f"PublishVersion {function}",
        "UpdateAlias live",
    ]
    assert_least_privilege(iam, project)
    assert lam.get_function_configuration(FunctionName=function, Qualifier="live")["Environment"]["Variables"] == {
        "ENDPOINT_NAME": f"{project}-endpoint"
    }
    assert deploy(mlops, project_env)[0]["changes"] == []


def test_dry_run_prints_every_request_and_sends_nothing(mlops, boto_client, project, project_env):
    result = mlops("-o", "json", "lambda", "deploy", "--dry-run", env=project_env)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True
    steps = {step["operation"]: step["params"] for step in plan["steps"]}
    assert list(steps) == ["CreateRole", "PutRolePolicy", "CreateFunction", "PublishVersion", "CreateAlias"]
    trust = json.loads(steps["CreateRole"]["AssumeRolePolicyDocument"])
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    policy = json.loads(steps["PutRolePolicy"]["PolicyDocument"])
    assert expected_policy(project)["sagemaker"] in json.dumps(policy)
    assert steps["CreateFunction"]["Code"]["ZipFile"].startswith("<zip of handler.py:")
    assert steps["CreateAlias"]["FunctionVersion"] == "0"  # stands for the version PublishVersion returns
    refs = {step["operation"]: step.get("refs") for step in plan["steps"]}
    assert refs["CreateAlias"] == {"FunctionVersion": "version.Version"}
    assert refs["CreateFunction"] == {"Role": "role.Role.Arn"}
    table = mlops("lambda", "deploy", "--dry-run", env=project_env)
    assert table.exit_code == 0, table.output
    assert f"  + lambda CreateFunction  {project}-invoke" in table.stdout
    assert "FunctionVersion = (known after version.Version)" in table.stdout
    assert "Plan: 5 to create, 0 to update, 0 to delete." in table.stdout
    iam, lam = boto_client("iam"), boto_client("lambda")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=f"{project}-lambda-invoke")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=f"{project}-invoke")


def test_changed_code_is_uploaded_once_and_published(mlops, local_aws, boto_client, project, project_env, tmp_path):
    from mlops_cli.config import load_config
    from mlops_cli.plan import Executor
    from mlops_cli.services.lambda_.function import (
        LambdaSpec,
        build_package,
        code_sha256,
        deploy_result,
        observe,
        plan_deploy,
    )

    deploy(mlops, project_env)
    config = load_config([LOCAL_CONFIG], env={"MLOPS_PROJECT": project, "MLOPS_AWS__ENDPOINT_URL": local_aws})
    spec = LambdaSpec.from_config(config, ACCOUNT, "aws")
    source = tmp_path / "handler.py"
    source.write_bytes(HANDLER_FILE.read_bytes() + b"\n# a new release\n")
    package = build_package(source)

    found = observe(boto_client, spec)
    plan = plan_deploy(spec, package, found)
    assert [step.operation for step in plan.steps] == [
        "GetFunctionConfiguration",  # waits until an earlier update finished
        "UpdateFunctionCode",
        "PublishVersion",
        "UpdateAlias",
    ]
    Executor(boto_client).execute(plan)
    result = deploy_result(boto_client, spec, found, package, plan)
    assert result.version == "2"
    lam = boto_client("lambda")
    assert lam.get_function_configuration(FunctionName=spec.function_name, Qualifier="live")[
        "CodeSha256"
    ] == code_sha256(package)
    # The same package again: nothing to send.
    assert plan_deploy(spec, package, observe(boto_client, spec)).steps == []


def test_invoke_runs_the_function_and_reports_its_answers(mlops, boto_client, project, project_env, tmp_path):
    """The function really runs (local AWS executes its zip); without an endpoint it answers 502."""
    deploy(mlops, project_env)
    function = f"{project}-invoke"
    missing = mlops("lambda", "invoke", "--url", "https://example.com/7.png", env=project_env)
    assert missing.exit_code == 1
    assert (
        f"the function answered 502: ValidationError: Endpoint {project}-endpoint of account <account> "
        "not found." in missing.stderr
    )
    refused = mlops("lambda", "invoke", "--url", "http:///7.png", env=project_env)  # the function refuses it
    assert refused.exit_code == 2 and "answered 400: " in refused.stderr and "no host" in refused.stderr
    # The function's one log line per request is in its own log group.
    logs = boto_client("logs")
    lines = [
        event["message"]
        for stream in logs.describe_log_streams(logGroupName=f"/aws/lambda/{function}")["logStreams"]
        for event in logs.get_log_events(logGroupName=f"/aws/lambda/{function}", logStreamName=stream["logStreamName"])[
            "events"
        ]
    ]
    requests = [json.loads(line) for line in lines if line.startswith("{")]
    assert sorted(r["status"] for r in requests) == [400, 502]
    assert any(line.startswith("REPORT RequestId:") for line in lines)

    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for args, message in [
        ((), "give either an IMAGE file or --url"),
        ((str(empty), "--url", "https://e.com/a.png"), "give either an IMAGE file or --url"),
        ((str(empty),), "is empty"),
        ((str(tmp_path / "absent.png"),), "cannot read image"),
        (("--url", "https://e.com/a.png", "--name", f"{project}-absent"), "not found"),
    ]:
        result = mlops("lambda", "invoke", *args, env=project_env)
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)


def test_invoke_dry_run_prints_the_request_and_sends_nothing(mlops, project, project_env):
    """No function exists in this project: a sent Invoke would fail with "not found" (exit 2)."""
    result = mlops("-o", "json", "lambda", "invoke", "--url", "https://example.com/7.png", "--dry-run", env=project_env)
    assert result.exit_code == 0, result.output
    [step] = json.loads(result.stdout)["steps"]
    assert (step["service"], step["operation"]) == ("lambda", "Invoke")
    assert step["params"]["FunctionName"] == f"{project}-invoke" and step["params"]["Qualifier"] == "live"
    assert json.loads(step["params"]["Payload"]) == {"url": "https://example.com/7.png"}
