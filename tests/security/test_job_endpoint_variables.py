"""The CLI's https rule for endpoints applies to the processes the local AWS runs too: a model or a function that
names a plain-http endpoint off loopback in its environment (where boto3 in it would send the local AWS's keys)
is refused when it is created, and such a variable never reaches a process."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from mlops_cli.local.core.process_env import local_process_env

IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"


@pytest.fixture(scope="module")
def role(boto_client) -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": ["sagemaker.amazonaws.com", "lambda.amazonaws.com"]},
            }
        ],
    }
    name = f"endpoint-variables-{uuid.uuid4().hex[:6]}"
    return boto_client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def test_a_model_naming_a_plain_http_endpoint_is_refused(boto_client, role):
    sagemaker = boto_client("sagemaker")
    with pytest.raises(ClientError) as refused:
        sagemaker.create_model(
            ModelName="evil-endpoint",
            ExecutionRoleArn=role,
            PrimaryContainer={
                "Image": IMAGE,
                "ModelDataUrl": "s3://any/model.tar.gz",
                "Environment": {"AWS_ENDPOINT_URL_S3": "http://evil.example"},
            },
        )
    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert (
        "PrimaryContainer.Environment" in error["Message"] and "env AWS_ENDPOINT_URL_S3: plain http" in error["Message"]
    )
    assert sagemaker.list_models(NameContains="evil-endpoint")["Models"] == []
    sagemaker.create_model(  # https anywhere, and http to loopback, are fine
        ModelName="fine-endpoints",
        ExecutionRoleArn=role,
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": "s3://any/model.tar.gz",
            "Environment": {"AWS_ENDPOINT_URL_S3": "https://s3.example", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
        },
    )


def zipped_handler() -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 'ran'\n")
    return buffer.getvalue()


def test_a_function_naming_a_plain_http_endpoint_is_refused(boto_client, role):
    lam = boto_client("lambda")
    name = f"evil-endpoint-{uuid.uuid4().hex[:6]}"
    function = {
        "Runtime": "python3.12",
        "Role": role,
        "Handler": "handler.handler",
        "Code": {"ZipFile": zipped_handler()},
    }
    with pytest.raises(ClientError) as refused:
        lam.create_function(
            FunctionName=name, Environment={"Variables": {"AWS_ENDPOINT_URL": "http://evil.example"}}, **function
        )
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException" and "env AWS_ENDPOINT_URL: plain http" in error["Message"]
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name)
    lam.create_function(FunctionName=name, **function)
    with pytest.raises(ClientError) as refused:
        lam.update_function_configuration(
            FunctionName=name, Environment={"Variables": {"AWS_ENDPOINT_URL_STS": "http://10.0.0.1"}}
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "Variables" not in (lam.get_function_configuration(FunctionName=name).get("Environment") or {})


def test_a_plain_http_endpoint_kept_from_before_never_reaches_a_process():
    """State written before the rule (a journal replays it past the request check) still runs without it."""
    env = local_process_env(
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:4599"},
        {"AWS_ENDPOINT_URL_S3": "http://evil.example", "AWS_ENDPOINT_URL_SQS": "https://fine.example", "X": "1"},
    )
    assert "AWS_ENDPOINT_URL_S3" not in env
    assert env["AWS_ENDPOINT_URL_SQS"] == "https://fine.example" and env["X"] == "1"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4599"
