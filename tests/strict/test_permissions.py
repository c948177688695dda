"""`mlops config permissions`: the policy names real IAM actions for real API operations, scopes them to the
project, and allows every call the commands really make (recorded while they run against the local AWS and
checked with the audit's policy engine), so what is derived from the commands' plans and declarations
(mlops_cli.usecases.permissions) cannot fall behind the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.common.iam_checks import NO_PERMISSION_NEEDED
from mlops_cli.config import load_config
from mlops_cli.services.audit.policy import allows, parse_statements
from mlops_cli.services.iam import permissions
from mlops_cli.usecases import permissions as derivation
from tests.helpers import LOCAL_CONFIG, SERVED_PROJECT, AwsCall, recorded_aws_calls

ACCOUNT = "123456789012"
PROJECT = "perms"
ENV = {"MLOPS_PROJECT": PROJECT, "MLOPS_S3__PREFIX": PROJECT}


def statements(document: dict[str, Any]) -> tuple:
    return parse_statements(document, "generated policy")


def test_every_operation_is_botocore_s_and_every_action_is_iam_s():
    import botocore.session
    from policy_sentry.querying.actions import get_actions_for_service

    session = botocore.session.get_session()
    derived = derivation.operations(load_config([str(LOCAL_CONFIG)]), derivation.commands())
    used = {operation for sent in derived.values() for operation in sent}
    for service in {service for service, _ in used}:
        operations = set(session.get_service_model(service).operation_names)
        assert {op for s, op in used if s == service} <= operations, f"{service}: operations botocore does not know"
    actions = {permissions.iam_action(service, operation) for service, operation in used}
    known = {
        action.lower() for prefix in {a.split(":")[0] for a in actions} for action in get_actions_for_service(prefix)
    }
    assert {action.lower() for action in actions} <= known, sorted(a for a in actions if a.lower() not in known)


@pytest.mark.parametrize(
    "service, operation, action",
    [
        ("s3", "HeadObject", "s3:GetObject"),
        ("s3", "ListObjectsV2", "s3:ListBucket"),
        ("s3", "UploadPart", "s3:PutObject"),
        ("s3", "CreateMultipartUpload", "s3:PutObject"),
        ("s3", "ListMultipartUploads", "s3:ListBucketMultipartUploads"),
        ("lambda", "Invoke", "lambda:InvokeFunction"),
        ("sagemaker-runtime", "InvokeEndpoint", "sagemaker:InvokeEndpoint"),
        ("sagemaker", "CreateTrainingJob", "sagemaker:CreateTrainingJob"),
    ],
)
def test_operations_become_iam_s_action_names(service, operation, action):
    assert permissions.iam_action(service, operation) == action


def test_policy_is_scoped_to_the_project_and_passes_roles_to_one_service(mlops):
    result = mlops("-o", "json", "config", "permissions", "train", "lambda", "deploy", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    parsed = statements(document)
    assert not any(pattern == "*" or pattern.endswith(":*") for s in parsed for pattern in s.actions)
    arn = f"arn:aws:iam::{ACCOUNT}:role"
    s3 = "arn:aws:s3:::mlops-local"
    assert allows(parsed, "s3:PutObject", f"{s3}/digits/code/source.tar.gz")
    assert not allows(parsed, "s3:PutObject", "arn:aws:s3:::another-bucket/digits/x")
    assert not allows(parsed, "s3:PutObject", f"{s3}/elsewhere/x")
    assert allows(parsed, "sagemaker:CreateTrainingJob", f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/digits-1")
    assert not allows(parsed, "sagemaker:CreateTrainingJob", f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/x")
    assert allows(parsed, "iam:PassRole", f"{arn}/digits-sagemaker-execution")
    assert allows(parsed, "iam:PassRole", f"{arn}/digits-lambda-invoke")
    assert not allows(parsed, "iam:PassRole", f"{arn}/digits-ec2-train")  # train-ec2 was not asked for
    assert not allows(parsed, "iam:PassRole", f"{arn}/admin")
    assert not allows(
        parsed, "sagemaker:DeleteEndpoint", f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/digits-endpoint"
    )
    passes = [s for s in document["Statement"] if s["Action"] == "iam:PassRole"]
    services = {s["Condition"]["StringEquals"]["iam:PassedToService"]: s["Resource"] for s in passes}
    assert services == {
        "sagemaker.amazonaws.com": [f"{arn}/digits-sagemaker-execution"],
        "lambda.amazonaws.com": [f"{arn}/digits-lambda-invoke"],
    }


def test_table_form_and_bad_input(mlops):
    table = mlops("config", "permissions", "invoke", "--account", ACCOUNT)
    assert table.exit_code == 0, table.output
    assert "  action     sagemaker:InvokeEndpoint\n" in table.stdout
    assert f"  resource   arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/digits-*\n" in table.stdout
    unknown = mlops("config", "permissions", "lambda")
    assert unknown.exit_code == 2
    assert "no AWS permissions are known for 'lambda'" in unknown.stderr and "lambda deploy" in unknown.stderr
    assert "Traceback" not in unknown.output
    bad = mlops("config", "permissions", "train", "--account", "12345")
    assert bad.exit_code == 2 and "12 digits" in bad.stderr


# --- the drift test: what the commands send is what the policy allows --------------------------------------------


def resources_of(call: AwsCall, account: str) -> list[str]:
    """The ARNs IAM authorises a call against, from its parameters (["*"] for calls on no one resource)."""
    params, region = call.params, "us-east-1"
    if call.service == "s3":
        bucket = f"arn:aws:s3:::{params['Bucket']}" if "Bucket" in params else "*"
        return [f"{bucket}/{params['Key']}" if "Key" in params else bucket]
    if call.service in ("sagemaker", "sagemaker-runtime"):
        if "ResourceArn" in params:
            return [params["ResourceArn"]]
        named = [
            f"arn:aws:sagemaker:{region}:{account}:{kind}/{params[member].lower()}"
            for member, kind in (
                ("HyperParameterTuningJobName", "hyper-parameter-tuning-job"),
                ("TrainingJobName", "training-job"),
                ("EndpointConfigName", "endpoint-config"),
                ("EndpointName", "endpoint"),
                ("ModelName", "model"),
            )
            if member in params
        ]
        return named or ["*"]
    if call.service == "iam":
        if "InstanceProfileName" in params:
            return [f"arn:aws:iam::{account}:instance-profile/{params['InstanceProfileName']}"]
        return [f"arn:aws:iam::{account}:role/{params['RoleName']}" if "RoleName" in params else "*"]
    if call.service == "lambda":
        if "Resource" in params:  # ListTags names the function by ARN
            return [params["Resource"]]
        if "FunctionName" not in params:
            return ["*"]
        name = params["FunctionName"]
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
        return [f"{arn}:{params['Qualifier']}" if params.get("Qualifier") else arn]
    if call.service == "cloudwatch" and ("AlarmName" in params or "AlarmNames" in params):
        names = params.get("AlarmNames") or [params["AlarmName"]]
        return [f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}" for name in names]
    if call.service == "logs" and "logGroupName" in params:
        stream = params.get("logStreamName", "")
        return [f"arn:aws:logs:{region}:{account}:log-group:{params['logGroupName']}:log-stream:{stream}"]
    return ["*"]


@pytest.fixture
def tiny_images(digits_dir: Path, tmp_path: Path) -> Path:
    """Two images of two classes in each split of the sample's layout: enough for every kind of upload request
    but the multipart, and for a one-epoch training job."""
    folder = tmp_path / "tiny"
    for split in ("train", "valid", "test"):
        for label in sorted(path for path in (digits_dir / split).iterdir() if path.is_dir())[:2]:
            for image in sorted(label.glob("*.png"))[:2]:
                target = folder / split / label.name / image.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(image.read_bytes())
    return folder


def test_every_call_the_commands_make_is_allowed_by_their_policy(
    mlops, local_aws, boto_client, tiny_images, served_model
):
    # deploy only checks that the artifact exists before its requests; --no-wait leaves the endpoint to the local
    # AWS (its model server fails on these bytes) and teardown deletes it. invoke, loadtest, autoscale and the
    # Lambda function talk to the session's endpoint that answers (served_model), named through the config.
    artifact = f"{PROJECT}/models/permissions/output/model.tar.gz"
    s3 = boto_client("s3")
    try:
        s3.create_bucket(Bucket="mlops-local")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(Bucket="mlops-local", Key=artifact, Body=b"not a model")
    served = {**ENV, "MLOPS_DEPLOY__ENDPOINT_NAME": served_model}
    # A guarded update of the served endpoint, as its own project, to the model it serves: its rollback alarm,
    # the UpdateEndpoint with a DeploymentConfig and the rollout followed to the end (no bake: seconds).
    served_project = {"MLOPS_PROJECT": SERVED_PROJECT, "MLOPS_S3__PREFIX": SERVED_PROJECT}
    rollout = [
        "deploy", "--model", f"s3://mlops-local/{SERVED_PROJECT}/models/session/output/model.tar.gz",
        "--endpoint", served_model, "--rollout", "canary:10%:0s", "--rollback-on", "p99>30s",
    ]  # fmt: skip
    image = str(next((tiny_images / "test").rglob("*.png")))
    runs = [
        ("data upload", ENV, ["data", "upload", str(tiny_images)]),
        ("train", ENV, ["train", "--hp", "epochs=1", "--job-name", f"{PROJECT}-train-1"]),
        ("invoke", served, ["invoke", image]),
        ("loadtest", served, ["loadtest", "--rate", "4", "--duration", "1", "--images", str(tiny_images / "test")]),
        ("autoscale", served, ["autoscale", "--max", "2"]),
        ("autoscale", served, ["autoscale", "--off"]),
        ("lambda deploy", served, ["lambda", "deploy"]),
        ("lambda invoke", served, ["lambda", "invoke", image]),
        ("concurrency set", ENV, ["concurrency", "set", "--reserved", "2", "--provisioned", "0"]),
        ("deploy", ENV, ["deploy", "--model", f"s3://mlops-local/{artifact}", "--no-wait"]),
        ("deploy", served_project, rollout),
        ("predict-batch", ENV, ["predict-batch", str(tiny_images / "test"), "--model", f"s3://mlops-local/{artifact}"]),
        ("status", ENV, ["status"]),
        ("teardown", ENV, ["teardown", "--lambda", "--yes"]),
    ]
    made: dict[tuple[str, str], list[AwsCall]] = {}  # (command, its environment) -> the calls it made
    environments: dict[str, dict[str, str]] = {}
    for command, env, args in runs:
        with recorded_aws_calls() as calls:
            result = mlops("-q", *args, env=env)
        assert result.exit_code == 0, f"{command}: {result.output[-2000:]}"
        made.setdefault((command, json.dumps(env, sort_keys=True)), []).extend(calls)
        environments[json.dumps(env, sort_keys=True)] = env
    assert all(made.values()), "a command made no AWS call: the test would check nothing"

    for (command, env_key), calls in made.items():
        result = mlops("-o", "json", "config", "permissions", command, env=environments[env_key])
        assert result.exit_code == 0, result.output
        policy = statements(json.loads(result.stdout))
        refused = {
            (call.operation, permissions.iam_action(call.service, call.operation), resource)
            for call in calls
            for resource in resources_of(call, ACCOUNT)
            if permissions.iam_action(call.service, call.operation) not in NO_PERMISSION_NEEDED
            and not allows(policy, permissions.iam_action(call.service, call.operation), resource)
        }
        assert not refused, f"`mlops {command}` made calls its policy does not allow: {sorted(refused)}"
