"""`mlops train-ec2` end to end against the local AWS: the instance's bootstrap really runs (fetch code and data from
S3, train, upload model.tar.gz, record the status, shut down); failures and API termination; `--local`."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from mlops_cli.services.ec2 import follow as ec2_follow
from mlops_cli.services.ec2 import job as ec2_job
from tests.helpers import LOCAL_CONFIG

BUCKET = "mlops-local"


def _instance(ec2, job: str) -> dict:
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:mlops:job", "Values": [job]}])["Reservations"]
    (instance,) = [instance for reservation in reservations for instance in reservation["Instances"]]
    return instance


def _terminated_instance(ec2, job: str, deadline_s: float = 60) -> dict:
    """The job's instance once it has shut itself down: the bootstrap records the status, then shuts down, so
    `--wait` can return a moment before the instance is gone."""
    deadline = time.monotonic() + deadline_s
    while (instance := _instance(ec2, job))["State"]["Name"] != "terminated" and time.monotonic() < deadline:
        time.sleep(0.2)
    return instance


def _test_accuracy(model_dir: Path, data_dir: Path) -> float:
    """Scored through the serving handlers (what an endpoint would answer), one batch of PNGs at a time."""
    from model import inference

    loaded = inference.model_fn(str(model_dir))
    samples = [(path, path.parent.name) for path in sorted((data_dir / "test").glob("*/*.png"))]
    correct = 0
    for start in range(0, len(samples), inference.MAX_BATCH_SIZE):
        batch = samples[start : start + inference.MAX_BATCH_SIZE]
        answer = inference.predict_fn([inference.ImageRequest(path.read_bytes(), top_k=1) for path, _ in batch], loaded)
        correct += sum(
            prediction["top_k"][0]["label"] == inference.display_label(folder)
            for prediction, (_, folder) in zip(answer["predictions"], batch, strict=True)
        )
    return correct / len(samples)


def _bootstrap_running(instance_id: str) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"{instance_id}/user-data.sh" in cmdline:
            return True
    return False


@pytest.mark.training
def test_wait_trains_on_the_instance_and_leaves_the_model_it_reports(
    mlops, small_digits_in_s3, boto_client, small_digits, tmp_path
):
    job = "digits-ec2-e2e"
    # configs/local.yaml's own training settings for one epoch, on the small slice: the instance's wiring (the
    # recipe's accuracy is the session training's claim, tests/model); it waits by default.
    result = mlops("-o", "json", "train-ec2", "--job-name", job, "--hp", "epochs=1", env=small_digits_in_s3)
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    artifact_uri = f"s3://{BUCKET}/digits/models/{job}/output/model.tar.gz"
    assert outcome["status"] == "Completed" and outcome["model_artifact"] == artifact_uri

    s3 = boto_client("s3")
    body = s3.get_object(Bucket=BUCKET, Key=f"digits/models/{job}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        tar.extractall(tmp_path / "model", filter="data")
    assert (tmp_path / "model" / "code" / "inference.py").is_file()
    # The artifact is the model the instance trained: through the serving handlers it scores what the job reported.
    assert abs(_test_accuracy(tmp_path / "model", small_digits) - outcome["metrics"]["test_acc"]) <= 1 / 40
    trained = json.loads((tmp_path / "model" / "metrics.json").read_text())
    assert trained["train_samples_per_rank"] == [160] and trained["hyperparameters"]["epochs"] == 1

    log = s3.get_object(Bucket=BUCKET, Key=f"digits/models/{job}/bootstrap.log")["Body"].read().decode()
    assert "test_acc=" in log and "epoch=1 " in log
    instance = _terminated_instance(boto_client("ec2"), job)
    assert instance["InstanceId"] == outcome["instance_id"]
    assert instance["State"]["Name"] == "terminated"  # it shut itself down, and shutdown means terminate
    assert instance["StateReason"]["Code"] == "Client.InstanceInitiatedShutdown"
    iam = boto_client("iam")
    policies = iam.list_role_policies(RoleName="digits-ec2-train")["PolicyNames"]
    assert "read-code-and-data" in policies and f"job-{job}" not in policies  # write access ended with the job


def test_failing_training_exits_1_with_the_reason_and_log_tail(mlops, local_aws, boto_client, tiny_digits):
    s3 = boto_client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for image in (tiny_digits / "train").rglob("*.png"):  # a data set without valid/
        s3.upload_file(str(image), BUCKET, f"digits/broken/{image.relative_to(tiny_digits).as_posix()}")
    job = "digits-ec2-broken"
    result = mlops("train-ec2", "--job-name", job, env={"MLOPS_DATA__S3_PREFIX": "broken"})
    assert result.exit_code == 1, result.output
    assert f"EC2 training job {job} failed: training failed (exit 2): error: data dir" in result.stderr
    assert "has no valid/ folder" in result.stderr
    assert "  | error: data dir" in result.stderr  # the log tail
    assert "Traceback" not in result.output
    status = json.loads(s3.get_object(Bucket=BUCKET, Key=f"digits/models/{job}/status.json")["Body"].read())
    assert (status["status"], status["stage"], status["model_artifact"]) == ("Failed", "training", None)
    assert _terminated_instance(boto_client("ec2"), job)["State"]["Name"] == "terminated"


@pytest.mark.training
def test_terminating_the_instance_kills_its_bootstrap(mlops, digits_in_s3, boto_client):
    job = "digits-ec2-terminated"
    result = mlops("-o", "json", "train-ec2", "--no-wait", "--job-name", job)
    assert result.exit_code == 0, result.output
    launched = json.loads(result.stdout)
    instance_id = launched["instance_id"]
    assert launched["status_uri"] == f"s3://{BUCKET}/digits/models/{job}/status.json"
    assert _bootstrap_running(instance_id)
    ec2, s3 = boto_client("ec2"), boto_client("s3")
    instance = _instance(ec2, job)
    assert instance["State"]["Name"] == "running"
    assert instance["IamInstanceProfile"]["Arn"].endswith(":instance-profile/digits-ec2-train")
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert not _bootstrap_running(instance_id)
    job_spec = ec2_job.Ec2Job(job, "us-east-1", "m5.large", "", "", f"s3://{BUCKET}/digits/models/{job}")
    outcome = ec2_follow.follow(ec2, s3, job_spec, instance_id, poll_s=0, sleep=lambda _s: None)
    # Killed mid-way: the bootstrap's TERM trap records the failure if it gets to, else the instance state tells.
    assert outcome["status"] == "Failed" and outcome.get("model_artifact") is None
    assert (
        "SIGTERM, the instance was stopped or terminated" in outcome["reason"]
        or f"instance {instance_id} is terminated" in outcome["reason"]
    )


@pytest.mark.training
def test_ctrl_c_while_waiting_says_how_to_stop_the_instance(digits_in_s3, boto_client):
    job = "digits-ec2-interrupted"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "train-ec2", "--job-name", job],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        lines = []
        for line in process.stderr:  # wait until it is following the instance
            lines.append(line)
            if "instance i-" in line:
                break
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = "".join(lines) + rest
    assert process.returncode == 130, stderr
    instance_id = _instance(boto_client("ec2"), job)["InstanceId"]
    assert f"instance {instance_id} keeps training and terminates itself when the job ends" in stderr
    assert f"aws ec2 terminate-instances --instance-ids {instance_id}" in stderr
    assert "Traceback" not in stderr
    boto_client("ec2").terminate_instances(InstanceIds=[instance_id])


@pytest.mark.training
def test_local_runs_the_entry_point_here_and_uploads(mlops, local_aws, boto_client, tiny_digits, tmp_path):
    job = "digits-ec2-local"
    out_dir = tmp_path / "run"
    result = mlops(
        "-o",
        "json",
        "train-ec2",
        "--local",
        "--data-dir",
        str(tiny_digits),
        "--out-dir",
        str(out_dir),
        "--job-name",
        job,
        "--hp",
        "image_size=32",
        "--hp",
        "batch_size=8",
    )
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    assert outcome["model_artifact"] == f"s3://{BUCKET}/digits/models/{job}/output/model.tar.gz"
    tar_path = out_dir / "model.tar.gz"
    with tarfile.open(tar_path) as tar:
        names = set(tar.getnames())
    assert {"model.pt", "metrics.json", "code/inference.py", "code/model/inference.py"} <= names
    uploaded = boto_client("s3").get_object(Bucket=BUCKET, Key=f"digits/models/{job}/output/model.tar.gz")
    assert uploaded["Body"].read() == tar_path.read_bytes()
    metrics = json.loads((out_dir / "model" / "metrics.json").read_text())
    assert metrics["hyperparameters"]["image_size"] == 32 and metrics["hyperparameters"]["batch_size"] == 8


def test_local_without_data_is_a_usage_error(mlops, tmp_path):
    result = mlops("train-ec2", "--local", "--data-dir", str(tmp_path), "--no-upload")
    assert result.exit_code == 2
    assert f"data folder '{tmp_path}' has no train/ split" in result.stderr


@pytest.fixture(autouse=True)
def _no_leftover_partial_files(tmp_path):
    yield
    assert not list(tmp_path.rglob("*.partial"))
