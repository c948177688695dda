"""`mlops train` against the local AWS: real jobs (real DDP across two simulated instances), their logs in
CloudWatch, the model in S3, failure, stopping, and the source package uploaded once.

Runtime: the session's 1-instance job (tests/conftest.py, configs/local.yaml's two-epoch recipe on the digits), one
2-instance run of the recipe on the small slice, plus jobs that fail at start or are stopped early.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import time

import pytest

from mlops_cli.services.training import packaging
from tests.helpers import LOCAL_CONFIG
from tests.interrupt import DEADLINE_S, interrupted
from tests.recipe import DDP_EPOCHS

LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def stream_messages(logs, job: str) -> dict[str, list[str]]:
    """Every log line of the job, by host (stream `<job>/algo-N-<epoch>`)."""
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job}/")["logStreams"]
    messages: dict[str, list[str]] = {}
    for stream in streams:
        name = stream["logStreamName"]
        host = name.split("/", 1)[1].rsplit("-", 1)[0]
        events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=name, startFromHead=True)["events"]
        messages[host] = [event["message"] for event in events]
    return messages


def test_two_instances_train_one_model_with_ddp(ddp_job, small_digits, boto_client, tmp_path):
    import torch
    from PIL import Image

    from model import artifact, data

    # configs/local.yaml's recipe, batch 32 per rank, on the small slice: the wiring of DDP through a job (accuracy
    # is the session training's claim).
    result = ddp_job
    description = json.loads(result.stdout)  # -o json: the DescribeTrainingJob answer
    assert description["TrainingJobName"] == "ddp-two"
    assert description["TrainingJobStatus"] == "Completed" and description["SecondaryStatus"] == "Completed"
    assert description["ResourceConfig"]["InstanceCount"] == 2
    assert [item["Status"] for item in description["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert description["BillableTimeInSeconds"] >= 1
    final = {item["MetricName"]: item["Value"] for item in description["FinalMetricDataList"]}
    assert final["epoch"] == DDP_EPOCHS
    # Followed on stderr: transitions, both instances' logs with their prefix, the metric lines.
    assert "InProgress / Training" in result.stderr and "Completed / Completed" in result.stderr
    assert "[algo-1] world_size=2" in result.stderr and "[algo-2] " in result.stderr
    # Quiet by default: torchrun's own logging stays in the log streams (checked below), out of the terminal.
    assert "torch/distributed/" not in result.stderr and "Traceback" not in result.stderr

    # Real DDP: both instances' streams show a world of 2; rank 0 saw both ranks' shards of the training set.
    messages = stream_messages(boto_client("logs"), "ddp-two")
    assert sorted(messages) == ["algo-1", "algo-2"]
    assert any("world_size=2" in line for line in messages["algo-1"])
    assert any("global_world_sizes=[2]" in line for line in messages["algo-2"])
    assert any("--nnodes=2 --node-rank=1" in line for line in messages["algo-2"])
    assert any("train_samples_per_rank=80,80" in line for line in messages["algo-1"])

    artifact_uri = description["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact_uri == "s3://mlops-local/digits/models/ddp-two/output/model.tar.gz"
    bucket, key = packaging.split_s3_uri(artifact_uri)
    archive = boto_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(tmp_path / "model", filter="data")
    model, meta = artifact.load_model_dir(tmp_path / "model")
    # Scored the way inference sees images: each test PNG through the model's own eval transform, the same accuracy
    # as the job's (to one image for float ties): the artifact is the model the ranks trained together.
    transform = data.eval_transform(meta["image_size"])
    samples = [
        (path, meta["class_names"].index(path.parent.name)) for path in sorted((small_digits / "test").glob("*/*.png"))
    ]
    assert len(samples) == 40
    with torch.no_grad():
        batch = torch.stack([transform(Image.open(path).convert("RGB")) for path, _ in samples])
        predicted = model(batch).argmax(dim=1).tolist()
    accuracy = sum(guess == label for guess, (_, label) in zip(predicted, samples, strict=True)) / len(samples)
    assert abs(accuracy - final["test_acc"]) <= 1 / len(samples)

    # A finished job cannot be stopped (the local StopTrainingJob answers as SageMaker does).
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="in status Completed"):
        boto_client("sagemaker").stop_training_job(TrainingJobName="ddp-two")


def test_one_instance_trains_without_torchrun_and_reuses_the_package(mlops, trained_job, boto_client):
    s3 = boto_client("s3")
    package = packaging.build_source_tarball()
    key = f"digits/code/{package.file_name}"
    # The session's job (tests/conftest.py) was launched by `mlops train` with configs/local.yaml alone.
    result = trained_job.result
    assert re.search(rf"source package s3://mlops-local/{key} (uploaded|unchanged, not re-uploaded)", result.stderr)
    stored = s3.head_object(Bucket="mlops-local", Key=key)["LastModified"]
    assert "Completed" in result.stdout and "model artifact" in result.stdout  # the table

    description = trained_job.description
    assert description["ResourceConfig"]["InstanceCount"] == 1
    messages = stream_messages(boto_client("logs"), trained_job.name)
    assert sorted(messages) == ["algo-1"]
    assert not any("launching torchrun" in line for line in messages["algo-1"])
    assert any("world_size=1" in line for line in messages["algo-1"])
    bucket, artifact_key = packaging.split_s3_uri(trained_job.model_data)
    assert s3.head_object(Bucket=bucket, Key=artifact_key)

    # Launching again with the same sources sends no new package.
    again = mlops("train", "--no-wait", "--job-name", "single-again", "--hp", "epochs=1")
    assert "unchanged, not re-uploaded" in again.stderr
    assert s3.head_object(Bucket="mlops-local", Key=key)["LastModified"] == stored
    boto_client("sagemaker").stop_training_job(TrainingJobName="single-again")


def test_failing_script_exits_1_with_reason_and_log_tail(mlops, broken_data_prefix, boto_client):
    result = mlops("train", "--job-name", "fails-fast", env={"MLOPS_DATA__S3_PREFIX": broken_data_prefix})
    assert result.exit_code == 1, result.output[-3000:]
    assert "error: training job fails-fast failed: AlgorithmError: ExecuteUserScriptError: ExitCode 2" in result.stderr
    assert "has no valid/ folder" in result.stderr
    assert "last log lines:" in result.stderr and "[algo-1] error: data dir" in result.stderr
    assert "Traceback" not in result.stderr
    description = boto_client("sagemaker").describe_training_job(TrainingJobName="fails-fast")
    assert description["TrainingJobStatus"] == "Failed"
    assert "has no valid/ folder" in description["FailureReason"]


def test_empty_data_channel_fails_like_sagemaker(mlops, local_aws, boto_client):
    result = mlops("-o", "json", "train", "--job-name", "no-data", env={"MLOPS_DATA__S3_PREFIX": "nothing-here"})
    assert result.exit_code == 1
    assert json.loads(result.stdout)["TrainingJobStatus"] == "Failed"
    assert 'No S3 objects found under S3 URL "s3://mlops-local/digits/nothing-here/"' in result.stderr


@pytest.mark.training
def test_ctrl_c_with_yes_stops_the_running_job(digits_in_s3, boto_client):
    sagemaker = boto_client("sagemaker")
    command = [
        sys.executable,
        "-m",
        "mlops_cli",
        "-c",
        str(LOCAL_CONFIG),
        "train",
        "--job-name",
        "stopped-one",
        "--hp",
        "epochs=50",
        "--yes",
    ]
    # Ctrl-C once the instance's process writes to its log.
    process, seen, rest = interrupted(command, lambda line: line.startswith("[algo-1] "))
    assert process.returncode == 130, seen + rest
    assert "stop requested for training job stopped-one" in rest

    deadline = time.monotonic() + DEADLINE_S
    while (status := sagemaker.describe_training_job(TrainingJobName="stopped-one"))["TrainingJobStatus"] not in (
        "Stopped",
        "Failed",
        "Completed",
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status["TrainingJobStatus"] == "Stopped" and status["SecondaryStatus"] == "Stopped"
    assert [item["Status"] for item in status["SecondaryStatusTransitions"]][-2:] == ["Stopping", "Stopped"]


@pytest.mark.training
def test_ctrl_c_without_a_terminal_leaves_the_job_running_and_says_how_to_stop_it(digits_in_s3, boto_client):
    command = [
        sys.executable,
        "-m",
        "mlops_cli",
        "-c",
        str(LOCAL_CONFIG),
        "train",
        "--job-name",
        "left-running",
        "--hp",
        "epochs=50",
    ]
    process, _, rest = interrupted(
        command, lambda line: "training job left-running created" in line, stdin=subprocess.DEVNULL
    )
    assert process.returncode == 130
    assert "training job left-running is still running in AWS" in rest
    assert "aws sagemaker stop-training-job --training-job-name left-running" in rest
    sagemaker = boto_client("sagemaker")
    assert sagemaker.describe_training_job(TrainingJobName="left-running")["TrainingJobStatus"] == "InProgress"
    sagemaker.stop_training_job(TrainingJobName="left-running")


def test_generated_execution_role_is_created_then_converged(boto_client):
    from mlops_cli.config import load_config
    from mlops_cli.services.iam.policies import sagemaker_execution_policy
    from mlops_cli.services.iam.sagemaker_roles import training_role
    from tests.helpers import converge_role

    config = load_config([LOCAL_CONFIG], env={"MLOPS_PROJECT": "trainrole", "MLOPS_TRAIN__SAGEMAKER__ROLE_ARN": "null"})
    iam = boto_client("iam")
    account = boto_client("sts").get_caller_identity()["Account"]
    converge_role(training_role(), config, boto_client, account_id=account, partition="aws")

    role = iam.get_role(RoleName="trainrole-sagemaker-execution")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": account}
    }
    assert {"Key": "mlops:project", "Value": "trainrole"} in role["Tags"]
    wanted = sagemaker_execution_policy(config, account, "aws")
    stored = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="mlops-sagemaker-execution")
    assert stored["PolicyDocument"] == wanted

    # Someone widens the role by hand: the next launch puts it back.
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="mlops-sagemaker-execution",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    iam.update_assume_role_policy(
        RoleName=role["RoleName"],
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    converge_role(training_role(), config, boto_client, account_id=account, partition="aws")
    stored = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="mlops-sagemaker-execution")
    assert stored["PolicyDocument"] == wanted
    trust = iam.get_role(RoleName=role["RoleName"])["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
