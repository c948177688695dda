"""Managed spot training on the local AWS: the suite's server interrupts every spot job once, when its first
checkpoint reaches S3 (MLOPS_LOCAL_SPOT_INTERRUPTIONS=checkpoint, tests/conftest.py), as SageMaker interrupts a
job whose spot instances EC2 reclaims. The job starts again on new instances with the checkpoints copied back,
resumes after the epoch of its last checkpoint and ends exactly where the uninterrupted 2-instance run of the same
recipe ends.

Runtime: one 2-instance run of configs/local.yaml's recipe (DDP_EPOCHS short epochs) on the small slice of the
digits plus a restart, and a tiny script job that runs past MaxWaitTimeInSeconds (about 10 s); the uninterrupted
run they are compared with (and take their role and data channel from) is the DDP test's (tests/train/conftest.py
`ddp_job`).
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from pathlib import Path

import pytest
import torch

from tests.recipe import DDP_EPOCHS

LOCAL_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "local.yaml"
JOB = "spot-two"


def final_metrics(description: dict) -> dict[str, float]:
    return {item["MetricName"]: item["Value"] for item in description["FinalMetricDataList"]}


@pytest.fixture(scope="module")
def spot_job(ddp_job, small_digits_in_s3):
    """`mlops -o json train --instance-count 2 --spot`: the click Result."""
    from typer.testing import CliRunner

    from mlops_cli.app import app

    command = [
        *("-c", str(LOCAL_CONFIG), "-o", "json", "train", "--instance-count", "2", "--spot"),
        *("--job-name", JOB, "--hp", f"epochs={DDP_EPOCHS}"),
    ]
    result = CliRunner().invoke(app, command, env=small_digits_in_s3, catch_exceptions=False)
    assert result.exit_code == 0, result.output[-3000:]
    return result


def test_interrupted_spot_job_resumes_from_its_checkpoint_and_ends_like_an_uninterrupted_run(
    spot_job, ddp_job, boto_client
):
    description = json.loads(spot_job.stdout)
    assert description["EnableManagedSpotTraining"] is True
    assert description["TrainingJobStatus"] == "Completed"
    # SageMaker's secondary statuses: interrupted, then started again on new instances.
    assert [item["Status"] for item in description["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Interrupted",
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    # The time waiting for spot capacity is not billed.
    assert description["BillableTimeInSeconds"] < description["TrainingTimeInSeconds"]

    # The progress says it: interrupted, then algo-1 resumed from the checkpoint copied back.
    assert "InProgress / Interrupted: Training job interrupted" in spot_job.stderr
    resumed_after = re.search(r"resumed from checkpoint \S+ after epoch (\d+)", spot_job.stderr)
    assert resumed_after, spot_job.stderr[-3000:]
    saved = int(resumed_after.group(1))
    assert 1 <= saved < DDP_EPOCHS

    # Each run has its own log streams: the first trained from epoch 1 (and may have logged the epoch it was killed
    # in before checkpointing it), the second resumed after the checkpoint's epoch and trained the rest.
    logs = boto_client("logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{JOB}/")
    names = sorted(stream["logStreamName"] for stream in streams["logStreams"])
    runs = sorted({name.rsplit("-", 1)[1] for name in names})
    assert len(runs) == 2 and len(names) == 4
    by_run = {run: stream_messages_of(logs, [name for name in names if name.endswith(f"-{run}")]) for run in runs}
    first, second = by_run[runs[0]], by_run[runs[1]]
    before = epochs_trained(first["algo-1"])
    assert before[:saved] == list(range(1, saved + 1)) and len(before) <= saved + 1
    assert not any("resumed from checkpoint" in line for line in first["algo-1"])
    assert any("resumed from checkpoint" in line and f"after epoch {saved}" in line for line in second["algo-1"])
    assert epochs_trained(second["algo-1"]) == list(range(saved + 1, DDP_EPOCHS + 1))
    assert any("global_world_sizes=[2]" in line for line in second["algo-2"])  # both instances came back

    # The checkpoints are at the CheckpointConfig URI: the last one after the last epoch.
    bucket, key = description["CheckpointConfig"]["S3Uri"].removeprefix("s3://").split("/", 1)
    body = boto_client("s3").get_object(Bucket=bucket, Key=f"{key}/checkpoint.pt")["Body"].read()
    assert torch.load(io.BytesIO(body), weights_only=True)["epoch"] == DDP_EPOCHS

    # Same seed, same world size: the resumed run ends exactly where the uninterrupted one does.
    resumed, uninterrupted = final_metrics(description), final_metrics(json.loads(ddp_job.stdout))
    assert resumed["epoch"] == uninterrupted["epoch"] == DDP_EPOCHS
    assert resumed["test_acc"] == uninterrupted["test_acc"]
    assert resumed["test_loss"] == pytest.approx(uninterrupted["test_loss"], rel=1e-6)


def test_the_job_table_shows_the_interruption_and_the_spot_savings(spot_job):
    from rich.console import Console

    from mlops_cli.render.train import job_table

    description = json.loads(spot_job.stdout)
    console = Console(record=True, width=160)
    job_table(console, description)
    rows = dict(re.findall(r"│ (\S.*?)\s+│ (.*?)\s+│", console.export_text()))
    saved = (1 - description["BillableTimeInSeconds"] / description["TrainingTimeInSeconds"]) * 100
    assert rows["spot interruptions"] == "1"
    assert rows["training seconds"] == str(description["TrainingTimeInSeconds"])
    assert rows["billable seconds"] == f"{description['BillableTimeInSeconds']} (managed spot savings {saved:.0f} %)"


def stream_messages_of(logs, names: list[str]) -> dict[str, list[str]]:
    """Every line of the given streams, by host."""
    return {
        name.split("/", 1)[1].rsplit("-", 1)[0]: [
            event["message"]
            for event in logs.get_log_events(
                logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=name, startFromHead=True
            )["events"]
        ]
        for name in names
    }


def epochs_trained(lines: list[str]) -> list[int]:
    return [int(line.split()[0].split("=")[1]) for line in lines if line.startswith("epoch=")]


WAITING_SCRIPT = """import os, pathlib, time
pathlib.Path(os.environ["MLOPS_CHECKPOINT_DIR"], "step.txt").write_text("1")
print("checkpoint written", flush=True)
time.sleep(600)
"""


def test_a_spot_job_past_max_wait_time_stops_as_sagemaker_stops_it(ddp_job, boto_client):
    """A tiny script that checkpoints, then waits: interrupted after its checkpoint, it starts again and runs on
    until MaxWaitTimeInSeconds (capacity waiting plus training) has passed since its creation."""
    s3, sagemaker = boto_client("s3"), boto_client("sagemaker")
    source = io.BytesIO()
    with tarfile.open(fileobj=source, mode="w:gz") as tar:
        info = tarfile.TarInfo("wait.py")
        info.size = len(WAITING_SCRIPT)
        tar.addfile(info, io.BytesIO(WAITING_SCRIPT.encode()))
    s3.put_object(Bucket="mlops-local", Key="digits/code/spot-wait.tar.gz", Body=source.getvalue())
    ddp = json.loads(ddp_job.stdout)  # its role, its data channel
    sagemaker.create_training_job(
        TrainingJobName="spot-max-wait",
        RoleArn=ddp["RoleArn"],
        AlgorithmSpecification={
            "TrainingImage": ddp["AlgorithmSpecification"]["TrainingImage"],
            "TrainingInputMode": "File",
        },
        HyperParameters={
            "sagemaker_program": json.dumps("wait.py"),
            "sagemaker_submit_directory": json.dumps("s3://mlops-local/digits/code/spot-wait.tar.gz"),
        },
        InputDataConfig=ddp["InputDataConfig"],
        OutputDataConfig={"S3OutputPath": "s3://mlops-local/digits/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 8, "MaxWaitTimeInSeconds": 8},
        EnableManagedSpotTraining=True,
        CheckpointConfig={"S3Uri": "s3://mlops-local/digits/checkpoints/spot-max-wait"},
    )
    deadline = time.monotonic() + 120
    while (job := sagemaker.describe_training_job(TrainingJobName="spot-max-wait"))["TrainingJobStatus"] not in (
        "Completed",
        "Failed",
        "Stopped",
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert job["TrainingJobStatus"] == "Stopped" and job["SecondaryStatus"] == "MaxWaitTimeExceeded"
    statuses = [item["Status"] for item in job["SecondaryStatusTransitions"]]
    assert statuses[:4] == ["Starting", "Downloading", "Training", "Interrupted"]
    assert statuses[-2:] == ["Training", "MaxWaitTimeExceeded"]
    assert job["BillableTimeInSeconds"] < job["TrainingTimeInSeconds"]
    checkpoint = s3.get_object(Bucket="mlops-local", Key="digits/checkpoints/spot-max-wait/step.txt")
    assert checkpoint["Body"].read() == b"1"
