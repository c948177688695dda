"""The embedded AWS runs Lambda functions for real and answers provisioned concurrency like AWS does."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile

import pytest

TOY = """
import os, time
print("init of", os.environ["AWS_LAMBDA_FUNCTION_NAME"])
if os.environ.get("FAIL_INIT"):
    raise RuntimeError("init failed on purpose")

def handler(event, context):
    print("handling", event.get("n"))
    if event.get("raise"):
        raise ValueError("bad n: %s" % event.get("n"))
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"n": event.get("n"), "arn": context.invoked_function_arn, "env": os.environ.get("GREETING"),
            "endpoint": os.environ.get("AWS_ENDPOINT_URL", "")[:16]}
"""


def toy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("toy.py", TOY)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def toy(boto_client):
    """A function with versions 1 and 2 (2 fails its init) and an alias `live` on 1."""
    iam, lam = boto_client("iam"), boto_client("lambda")
    role = iam.create_role(
        RoleName="toy-hook-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName="toy-hook",
        Runtime="python3.12",
        Role=role,
        Handler="toy.handler",
        Code={"ZipFile": toy_zip()},
        Timeout=1,
        Environment={"Variables": {"GREETING": "hi"}},
    )
    lam.publish_version(FunctionName="toy-hook")
    lam.create_alias(FunctionName="toy-hook", Name="live", FunctionVersion="1")
    lam.update_function_configuration(
        FunctionName="toy-hook", Environment={"Variables": {"GREETING": "hi", "FAIL_INIT": "1"}}
    )
    lam.publish_version(FunctionName="toy-hook")
    return "toy-hook"


def invoke(lam, event, **kwargs):
    answer = lam.invoke(FunctionName="toy-hook", Payload=json.dumps(event).encode(), **kwargs)
    return answer, json.loads(answer["Payload"].read())


def test_invoke_runs_the_handler_with_its_environment(toy, boto_client, local_aws):
    lam = boto_client("lambda")
    answer, payload = invoke(lam, {"n": 7}, Qualifier="live", LogType="Tail")
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert answer["ExecutedVersion"] == "1"
    assert payload == {
        "n": 7,
        "arn": "arn:aws:lambda:us-east-1:123456789012:function:toy-hook:live",
        "env": "hi",
        "endpoint": local_aws[:16],
    }
    log = base64.b64decode(answer["LogResult"]).decode()
    assert "init of toy-hook" in log and "handling 7" in log and "REPORT RequestId:" in log


def test_errors_come_back_as_lambda_function_errors(toy, boto_client):
    lam = boto_client("lambda")
    answer, payload = invoke(lam, {"n": 3, "raise": True}, Qualifier="1")
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "ValueError" and payload["errorMessage"] == "bad n: 3"
    answer, payload = invoke(lam, {}, Qualifier="2")
    assert answer["FunctionError"] == "Unhandled" and answer["ExecutedVersion"] == "2"
    assert payload["errorType"] == "RuntimeError" and payload["errorMessage"] == "init failed on purpose"
    answer, payload = invoke(lam, {"sleep": 5}, Qualifier="1")
    assert answer["FunctionError"] == "Unhandled" and "Task timed out after 1.00 seconds" in payload["errorMessage"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="toy-hook", Qualifier="nope", Payload=b"{}")


def test_account_settings_and_the_100_unit_floor(toy, boto_client):
    lam = boto_client("lambda")
    limit = lam.get_account_settings()["AccountLimit"]
    assert limit["ConcurrentExecutions"] == 1000
    lam.put_function_concurrency(FunctionName="toy-hook", ReservedConcurrentExecutions=5)
    after = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert after == limit["UnreservedConcurrentExecutions"] - 5
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match=r"minimum value of \[100\]"):
        lam.put_function_concurrency(FunctionName="toy-hook", ReservedConcurrentExecutions=after + 5 - 99)


def wait_status(lam, qualifier: str) -> dict:
    for _ in range(120):
        status = lam.get_provisioned_concurrency_config(FunctionName="toy-hook", Qualifier=qualifier)
        if status["Status"] != "IN_PROGRESS":
            return status
        time.sleep(0.25)
    raise AssertionError("still IN_PROGRESS")


def test_provisioned_concurrency_lifecycle(toy, boto_client):
    lam = boto_client("lambda")
    lam.put_function_concurrency(FunctionName="toy-hook", ReservedConcurrentExecutions=5)
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="unpublished function versions"):
        lam.put_provisioned_concurrency_config(
            FunctionName="toy-hook", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="reservedConcurrentExecution"):
        lam.put_provisioned_concurrency_config(
            FunctionName="toy-hook", Qualifier="live", ProvisionedConcurrentExecutions=6
        )
    put = lam.put_provisioned_concurrency_config(
        FunctionName="toy-hook", Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202 and put["Status"] == "IN_PROGRESS"
    assert put["AllocatedProvisionedConcurrentExecutions"] == 0
    ready = wait_status(lam, "live")
    assert ready["Status"] == "READY" and ready["AllocatedProvisionedConcurrentExecutions"] == 2
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="provisioned concurrency"):
        lam.put_function_concurrency(FunctionName="toy-hook", ReservedConcurrentExecutions=1)

    # Moving the alias to version 2 re-allocates, and version 2's init fails.
    lam.update_alias(FunctionName="toy-hook", Name="live", FunctionVersion="2")
    failed = wait_status(lam, "live")
    assert failed["Status"] == "FAILED" and "init failed on purpose" in failed["StatusReason"]
    [listed] = lam.list_provisioned_concurrency_configs(FunctionName="toy-hook")["ProvisionedConcurrencyConfigs"]
    assert listed["FunctionArn"].endswith(":toy-hook:live") and listed["Status"] == "FAILED"

    lam.delete_provisioned_concurrency_config(FunctionName="toy-hook", Qualifier="live")
    with pytest.raises(lam.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lam.get_provisioned_concurrency_config(FunctionName="toy-hook", Qualifier="live")
    lam.update_alias(FunctionName="toy-hook", Name="live", FunctionVersion="1")
