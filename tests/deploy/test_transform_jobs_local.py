"""The local AWS's batch transform jobs as the AWS CLI sees them, without a trained model: what it refuses, a job
with nothing to transform, and StopTransformJob (which moto lacks) on a job that is running."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.usefixtures("local_aws")

BUCKET = "mlops-local"
MODEL = "transform-local-test-model"  # not the "digits" project's: tests that list its resources share this AWS


@pytest.fixture(scope="module")
def model(boto_client) -> str:
    s3 = boto_client("s3")
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(Bucket=BUCKET, Key="digits/models/transform-local/model.tar.gz", Body=b"not a model")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = boto_client("iam").create_role(RoleName="transform-local-test", AssumeRolePolicyDocument=json.dumps(trust))
    boto_client("sagemaker").create_model(
        ModelName=MODEL,
        PrimaryContainer={
            "Image": "pytorch-inference",
            "ModelDataUrl": f"s3://{BUCKET}/digits/models/transform-local/model.tar.gz",
        },
        ExecutionRoleArn=role["Role"]["Arn"],
    )
    return MODEL


def _job(name: str, prefix: str, **input_fields) -> dict:
    return {
        "TransformJobName": name,
        "ModelName": MODEL,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/{prefix}/"}},
            "ContentType": "application/x-image",
            **input_fields,
        },
        "TransformOutput": {"S3OutputPath": f"s3://{BUCKET}/digits/predictions/{name}/"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }


def _ended(sm, name: str) -> dict:
    deadline = time.monotonic() + 120
    while True:
        described = sm.describe_transform_job(TransformJobName=name)
        if described["TransformJobStatus"] in ("Completed", "Failed", "Stopped"):
            return described
        assert time.monotonic() < deadline, described
        time.sleep(0.2)


def test_a_job_is_in_progress_until_it_ends_and_nothing_to_transform_fails_it(model, boto_client, aws_cli):
    sm = boto_client("sagemaker")
    sm.create_transform_job(**_job("digits-nothing", "digits/batch-input/empty"))
    assert sm.describe_transform_job(TransformJobName="digits-nothing")["TransformJobStatus"] in (
        "InProgress",
        "Failed",
    )
    ended = _ended(sm, "digits-nothing")
    assert ended["TransformJobStatus"] == "Failed"
    assert ended["FailureReason"].startswith("ClientError: No S3 objects found under S3 URL")
    listed = aws_cli("sagemaker", "list-transform-jobs")["TransformJobSummaries"]
    assert any(job["TransformJobName"] == "digits-nothing" for job in listed)


def test_what_the_local_runner_does_not_run_is_refused(model, boto_client):
    sm = boto_client("sagemaker")
    with pytest.raises(ClientError, match="SplitType Line"):
        sm.create_transform_job(**_job("digits-lines", "digits/batch-input/x", SplitType="Line"))
    with pytest.raises(ClientError, match="Could not find model"):
        sm.create_transform_job(**{**_job("digits-no-model", "digits/batch-input/x"), "ModelName": "missing"})


def test_stop_ends_a_running_job_as_stopped(model, boto_client):
    s3, sm = boto_client("s3"), boto_client("sagemaker")
    s3.put_object(Bucket=BUCKET, Key="digits/batch-input/stop/a.png", Body=b"\x89PNG\r\n\x1a\n")
    sm.create_transform_job(**_job("digits-stop", "digits/batch-input/stop"))
    sm.stop_transform_job(TransformJobName="digits-stop")
    assert _ended(sm, "digits-stop")["TransformJobStatus"] == "Stopped"
    with pytest.raises(ClientError, match="cannot be stopped"):
        sm.stop_transform_job(TransformJobName="digits-stop")
