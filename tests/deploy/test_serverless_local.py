"""The local AWS's serverless endpoints without a trained model (an untrained network, the real handlers): scaled to
zero when idle, a cold start published as ModelSetupTime, and MaxConcurrency enforced with ThrottlingException."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.usefixtures("local_aws")

ENDPOINT = "serverless-local-test"  # not the "digits" project's: tests that list its resources share this AWS
BUCKET = "mlops-local"


def _untrained_model_tar(tmp_path: Path) -> bytes:
    from model.artifact import save_model_dir
    from model.network import build_model

    network = build_model("resnet18", 2, pretrained=False, freeze_backbone=False, hidden_units=0)
    model_dir = save_model_dir(
        tmp_path / "model", network, arch="resnet18", class_names=["000.a", "001.b"], image_size=32, hidden_units=0
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    return buffer.getvalue()


def _serving(mlops_home: Path) -> bool:
    """A model server holds the model (a stopped one removes it)."""
    return any(mlops_home.glob(f"local/*/state/endpoints/{ENDPOINT}/*/opt_ml_model"))


def _starting(mlops_home: Path) -> bool:
    """A model server is starting: its fresh work folder has no server.json yet (the stopped one's had)."""
    folders = list(mlops_home.glob(f"local/*/state/endpoints/{ENDPOINT}/*"))
    return bool(folders) and not any((folder / "server.json").exists() for folder in folders)


def _until(condition, what: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_idle_scale_to_zero_cold_start_and_max_concurrency(boto_client, mlops_home, tmp_path, digits_dir):
    s3, sm, iam = boto_client("s3"), boto_client("sagemaker"), boto_client("iam")
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    s3.put_object(Bucket=BUCKET, Key="digits/models/serverless-local/model.tar.gz", Body=_untrained_model_tar(tmp_path))
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName="serverless-local-test", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    # The model server acts with this role (as on AWS): it must be allowed to read the model.
    read_model = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/digits/models/*"}
        ],
    }
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="read-model", PolicyDocument=json.dumps(read_model))
    sm.create_model(
        ModelName=ENDPOINT,
        PrimaryContainer={
            "Image": "pytorch-inference",
            "ModelDataUrl": f"s3://{BUCKET}/digits/models/serverless-local/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
        },
        ExecutionRoleArn=role["Arn"],
    )
    sm.create_endpoint_config(
        EndpointConfigName=ENDPOINT,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": ENDPOINT,
                "ServerlessConfig": {"MemorySizeInMB": 1024, "MaxConcurrency": 1},
            }
        ],
    )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=ENDPOINT, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    runtime = boto_client("sagemaker-runtime")
    image = next((digits_dir / "test").rglob("*.png")).read_bytes()

    def invoke() -> dict:
        return runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="image/png", Body=image)

    try:
        invoke()  # warm
        _until(lambda: not _serving(mlops_home), "the idle serverless endpoint kept its model server")
        answers: list = []
        first = threading.Thread(target=lambda: answers.append(invoke()))
        first.start()  # finds no server: a cold start, in flight until the new model server answers
        _until(lambda: _starting(mlops_home), "no cold start began", timeout_s=60)
        with pytest.raises(ClientError) as throttled:
            invoke()  # over MaxConcurrency 1 while the first waits
        assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
        first.join(timeout=180)
        assert answers and answers[0]["ResponseMetadata"]["HTTPStatusCode"] == 200

        now = datetime.now(UTC)
        points = boto_client("cloudwatch").get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="ModelSetupTime",
            Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}],
            StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=1),
            Period=60,
            Statistics=["SampleCount", "Maximum"],
        )["Datapoints"]
        assert sum(point["SampleCount"] for point in points) == 1 and points[0]["Maximum"] > 0
    finally:
        sm.delete_endpoint(EndpointName=ENDPOINT)
