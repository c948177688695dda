"""`mlops predict-batch` against the local AWS: the session's trained model scores the digits test set, uploaded
from a local folder, in a real batch transform job (model servers running the inference handlers), and answers
image for image as an endpoint serving the same model does."""

from __future__ import annotations

import json

import pytest

from .conftest import cli

OUTPUT = "s3://mlops-local/digits/predictions/batch-test"
ENDPOINT = "digits-batch-check"

pytestmark = pytest.mark.usefixtures("local_aws")


def _outputs(s3) -> dict[str, dict]:
    bucket, prefix = OUTPUT[5:].split("/", 1)
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) + 1 :]
            found[relative] = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    return found


def _top_label(answer: dict) -> str:
    return answer["predictions"][0]["top_k"][0]["label"]


def test_batch_transform_scores_a_folder_like_the_endpoint(trained_job, digits_dir, boto_client, aws_cli):
    test_set = digits_dir / "test"
    images = sorted(path.relative_to(test_set).as_posix() for path in test_set.rglob("*.png"))
    plan = cli("-o", "json", "--dry-run", "predict-batch", str(test_set), "--job", trained_job.name, "--to", OUTPUT)
    assert plan.exit_code == 0, plan.output
    planned = json.loads(plan.stdout)
    operations = [step["operation"] for step in planned["steps"]]
    assert operations.count("PutObject") == len(images)  # the folder is uploaded first
    assert operations[-2:] == ["CreateModel", "CreateTransformJob"]
    job_request = planned["steps"][-1]["params"]
    assert job_request["TransformInput"]["SplitType"] == "None" and job_request["BatchStrategy"] == "SingleRecord"
    assert planned["cost"]["items"][0]["objects"] == len(images)

    result = cli("-o", "json", "predict-batch", str(test_set), "--job", trained_job.name, "--to", OUTPUT, "--wait")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "Completed"
    assert summary["summary"]["inputs"] == summary["summary"]["outputs"] == len(images)
    assert summary["summary"]["failed"] == 0
    described = aws_cli("sagemaker", "describe-transform-job", "--transform-job-name", summary["job"])
    assert described["TransformJobStatus"] == "Completed"

    outputs = _outputs(boto_client("s3"))
    assert sorted(outputs) == [f"{image}.out" for image in images]  # one output per input, named as on AWS
    truth = {image: image.split("/")[0].split(".", 1)[1] for image in images}  # 003.three/x.png -> three
    batch_labels = {image: _top_label(outputs[f"{image}.out"]) for image in images}
    batch_accuracy = sum(batch_labels[image] == truth[image] for image in images) / len(images)
    assert batch_accuracy > 0.8
    top = summary["summary"]["top_labels"]
    assert sum(item["count"] for item in top) <= len(images) and top[0]["count"] >= top[-1]["count"]

    deployed = cli("deploy", "--job", trained_job.name, "--endpoint", ENDPOINT)
    assert deployed.exit_code == 0, deployed.output
    runtime = boto_client("sagemaker-runtime")
    try:
        endpoint_labels = {
            image: _top_label(
                json.loads(
                    runtime.invoke_endpoint(
                        EndpointName=ENDPOINT, ContentType="image/png", Body=(test_set / image).read_bytes()
                    )["Body"].read()
                )
            )
            for image in images
        }
    finally:
        boto_client("sagemaker").delete_endpoint(EndpointName=ENDPOINT)
    endpoint_accuracy = sum(endpoint_labels[image] == truth[image] for image in images) / len(images)
    assert endpoint_labels == batch_labels and endpoint_accuracy == batch_accuracy


def test_a_model_that_cannot_load_fails_the_job_with_its_reason(artifacts, digits_in_s3):
    result = cli("predict-batch", f"{digits_in_s3}/test/001.zero", "--model", artifacts["broken"], "--wait")
    assert result.exit_code == 1, result.output
    assert "Failed" in result.output and "did not start" in result.output
