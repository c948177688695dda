"""The local AWS keeps its state: every kind of it is back after a SIGKILL of the server mid-upload and after
`local down`/`local up`; only `local reset` forgets it, and deletes nothing but its own state folder.

A local AWS of its own (a free port, its own MLOPS_HOME): the state is made with the CLI (deploy with scaling,
lambda deploy, concurrency set, data upload) and boto3 (IAM, two small real training jobs: one finished, one
still running when the server is killed). The endpoint serves the session's trained model (no extra training).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pty
import signal
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import LOCAL_CONFIG, free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # starts its own local AWS

PROJECT = "dur"
BUCKET = "mlops-local"
DATA_PREFIX = "digits/data/"
MODEL_URI = f"s3://{BUCKET}/digits/models/kept/model.tar.gz"  # under the config's prefix: the endpoint role reads it
ENDPOINT = f"{PROJECT}-endpoint"
FUNCTION = f"{PROJECT}-invoke"
ROLE = f"{PROJECT}-training-role"
TRAIN_SCRIPT = """import os, pathlib, sys, time
if "--wait" in sys.argv:
    print("waiting", flush=True)
    time.sleep(600)
print("epoch 1: valid_accuracy=0.75", flush=True)
pathlib.Path(os.environ["SM_MODEL_DIR"], "model.txt").write_text("tiny model")
"""


@dataclass
class DurableAws:
    url: str
    home: Path
    env: dict[str, str]  # for the CLI: this server, this MLOPS_HOME, this project

    @property
    def instance_dir(self) -> Path:
        return self.home / "local" / str(self.url.rsplit(":", 1)[1])

    def cli(self, *args: str, input: str | None = None) -> Any:
        from mlops_cli.app import app

        return CliRunner().invoke(
            app, ["-c", str(LOCAL_CONFIG), *args], env=self.env, input=input, catch_exceptions=False
        )

    def local(self, *args: str, stdin: Any = None) -> subprocess.CompletedProcess:
        """`mlops local ...` in its own process, as a user runs it."""
        return subprocess.run(
            [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "local", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
            stdin=stdin,
        )

    def client(self, service: str) -> Any:
        import boto3

        from mlops_cli.local.core import credentials

        keys = credentials.read(self.instance_dir / credentials.FILE_NAME)
        assert keys is not None, "`mlops local up` wrote no credentials"
        return boto3.client(service, region_name="us-east-1", endpoint_url=self.url, **keys.boto_kwargs())


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableAws]:
    home = tmp_path_factory.mktemp("durable-home")
    url = f"http://127.0.0.1:{free_port()}"
    aws = DurableAws(url, home, {"MLOPS_HOME": str(home), "MLOPS_AWS__ENDPOINT_URL": url, "MLOPS_PROJECT": PROJECT})
    started = aws.local("up")
    assert started.returncode == 0, started.stderr
    try:
        yield aws
    finally:
        aws.local("down")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bodies(s3: Any, keys: list[str]) -> dict[str, str]:
    return {key: sha256(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) for key in keys}


def listed(s3: Any, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def start_training_job(aws: DurableAws, name: str, source_uri: str, role_arn: str, *extra: str) -> None:
    hyperparameters = {
        "sagemaker_program": "train.py",
        "sagemaker_submit_directory": source_uri,
        **{flag: "1" for flag in extra},
    }
    aws.client("sagemaker").create_training_job(
        TrainingJobName=name,
        RoleArn=role_arn,
        AlgorithmSpecification={
            "TrainingImage": "pytorch-training:2.5-cpu-py311",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "valid:accuracy", "Regex": r"valid_accuracy=([0-9.]+)"}],
        },
        HyperParameters={key: json.dumps(value) for key, value in hyperparameters.items()},
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/{PROJECT}/jobs"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 900},
    )


def invoke(aws: DurableAws, image: bytes) -> dict[str, Any]:
    answer = aws.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=ENDPOINT, Body=image, ContentType="image/png", Accept="application/json"
    )
    return json.loads(answer["Body"].read())


def model_servers(aws: DurableAws) -> list[int]:
    """The model server processes (one per endpoint instance) of the running local AWS."""
    server_pid = json.loads((aws.instance_dir / "server.pid").read_text())["pid"]
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == server_pid and b"mlops_cli.local.sagemaker.model_server" in command:
            found.append(int(pid))
    return found


def observe(aws: DurableAws) -> dict[str, Any]:
    """What the APIs say about every kind of state the test made (minus per-request metadata)."""
    iam, lam, sm = aws.client("iam"), aws.client("lambda"), aws.client("sagemaker")
    aas, logs = aws.client("application-autoscaling"), aws.client("logs")
    job = sm.describe_training_job(TrainingJobName=f"{PROJECT}-done")
    stream = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{PROJECT}-done/"
    )["logStreams"][0]["logStreamName"]
    state = {
        "role": iam.get_role(RoleName=ROLE)["Role"],
        "user": iam.get_user(UserName=f"{PROJECT}-user")["User"],
        "keys": iam.list_access_keys(UserName=f"{PROJECT}-user")["AccessKeyMetadata"],
        "user_policies": iam.list_attached_user_policies(UserName=f"{PROJECT}-user")["AttachedPolicies"],
        "function_role": iam.get_role(
            RoleName=lam.get_function(FunctionName=FUNCTION)["Configuration"]["Role"].rsplit("/", 1)[1]
        )["Role"],
        "function": lam.get_function(FunctionName=FUNCTION)["Configuration"],
        "versions": lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"],
        "aliases": lam.list_aliases(FunctionName=FUNCTION)["Aliases"],
        "reserved": lam.get_function_concurrency(FunctionName=FUNCTION).get("ReservedConcurrentExecutions"),
        "provisioned": lam.list_provisioned_concurrency_configs(FunctionName=FUNCTION)["ProvisionedConcurrencyConfigs"],
        "model": sm.describe_model(
            ModelName=sm.describe_endpoint_config(
                EndpointConfigName=sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
            )["ProductionVariants"][0]["ModelName"]
        ),
        "endpoint": sm.describe_endpoint(EndpointName=ENDPOINT),
        "targets": aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"],
        "policies": aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"],
        "activities": aas.describe_scaling_activities(ServiceNamespace="sagemaker")["ScalingActivities"],
        "job": job,
        "log": [
            event["message"]
            for event in logs.get_log_events(
                logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream, startFromHead=True
            )["events"]
        ],
    }
    for value in state.values():
        if isinstance(value, dict):
            value.pop("ResponseMetadata", None)
    return state


def test_every_kind_of_state_is_back_after_a_sigkill_mid_upload(aws, trained_job, boto_client, digits_dir):
    s3, iam = aws.client("s3"), aws.client("iam")
    s3.create_bucket(Bucket=BUCKET)
    # The session's trained model, served here by `mlops deploy` with scaling.
    model = boto_client("s3").get_object(Bucket=BUCKET, Key=trained_job.model_data.split("/", 3)[3])["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=MODEL_URI.split("/", 3)[3], Body=model)
    # IAM: a role SageMaker may assume, a user with an access key and a managed policy of ours.
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "sagemaker.amazonaws.com"}}
        ],
    }
    role_arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.create_user(UserName=f"{PROJECT}-user")
    secret = iam.create_access_key(UserName=f"{PROJECT}-user")["AccessKey"]
    policy = iam.create_policy(
        PolicyName=f"{PROJECT}-read",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.attach_user_policy(UserName=f"{PROJECT}-user", PolicyArn=policy)
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=policy)  # the model server reads the model as this role
    deployed = aws.cli("deploy", "--model", MODEL_URI, "--autoscale", "max=2")
    assert deployed.exit_code == 0, deployed.output
    assert aws.cli("lambda", "deploy").exit_code == 0
    concurrency = aws.cli("concurrency", "set", "--function", FUNCTION, "--reserved", "5", "--provisioned", "1")
    assert concurrency.exit_code == 0, concurrency.output
    # Two real (tiny) training jobs: one finishes, one is still running when the server dies.
    source = io.BytesIO()
    with tarfile.open(fileobj=source, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = len(TRAIN_SCRIPT)
        tar.addfile(info, io.BytesIO(TRAIN_SCRIPT.encode()))
    s3.put_object(Bucket=BUCKET, Key=f"{PROJECT}/code/sourcedir.tar.gz", Body=source.getvalue())
    source_uri = f"s3://{BUCKET}/{PROJECT}/code/sourcedir.tar.gz"
    sm = aws.client("sagemaker")
    start_training_job(aws, f"{PROJECT}-done", source_uri, role_arn)
    start_training_job(aws, f"{PROJECT}-running", source_uri, role_arn, "wait")
    wait_for(
        lambda: sm.describe_training_job(TrainingJobName=f"{PROJECT}-done")["TrainingJobStatus"] == "Completed",
        "the first training job",
    )
    wait_for(
        lambda: sm.describe_training_job(TrainingJobName=f"{PROJECT}-running")["SecondaryStatus"] == "Training",
        "the second training job to run",
    )
    wait_for(
        lambda: (
            aws.client("lambda").get_provisioned_concurrency_config(FunctionName=FUNCTION, Qualifier="live")["Status"]
            == "READY"
        ),
        "provisioned concurrency",
    )
    # The endpoint at two instances: a minimum of 2 moves its capacity there at the next period, as AWS does.
    aws.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=f"endpoint/{ENDPOINT}/variant/AllTraffic",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=2,
        MaxCapacity=2,
    )
    image = next((digits_dir / "test").rglob("*.png")).read_bytes()
    invoke(aws, image)  # the endpoint's first invocation starts the local scaling periods
    wait_for(
        lambda: sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"][0]["CurrentInstanceCount"] == 2,
        "the endpoint to scale to 2 instances",
    )
    assert len(model_servers(aws)) == 2
    before = observe(aws)
    assert before["job"]["FinalMetricDataList"][0]["Value"] == 0.75
    assert any("valid_accuracy=0.75" in line for line in before["log"])

    # SIGKILL the server while `mlops data upload` runs (and the upload with it).
    upload = subprocess.Popen(
        [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "-q", "data", "upload", str(digits_dir)],
        env={**os.environ, **aws.env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen = wait_for(
        lambda: (lambda keys: keys if len(keys) >= 100 else None)(listed(s3, DATA_PREFIX)), "the upload to be under way"
    )
    server_pid = json.loads((aws.instance_dir / "server.pid").read_text())["pid"]
    os.kill(server_pid, signal.SIGKILL)
    upload.kill()
    upload.wait()
    local_files = {DATA_PREFIX + path.relative_to(digits_dir).as_posix(): path for path in digits_dir.rglob("*.png")}
    assert len(seen) < len(local_files), "the upload finished before the kill: nothing was killed mid-work"

    restarted = aws.local("up")
    assert restarted.returncode == 0, restarted.stderr
    s3 = aws.client("s3")
    # Every object the server had shown is back, byte for byte; the model artifact too.
    assert bodies(s3, seen) == {key: sha256(local_files[key].read_bytes()) for key in seen}
    assert bodies(s3, [MODEL_URI.split("/", 3)[3]]) == {MODEL_URI.split("/", 3)[3]: sha256(model)}
    after = observe(aws)
    assert after == before
    assert after["keys"][0]["AccessKeyId"] == secret["AccessKeyId"]
    # The endpoint is hosted again, on both its instances, and answers.
    assert invoke(aws, image)["predictions"][0]["top_k"]
    wait_for(lambda: len(model_servers(aws)) == 2, "both instances of the endpoint to be hosted again")
    # The job that was running is Failed, with the reason; its processes went with the server.
    interrupted = sm.describe_training_job(TrainingJobName=f"{PROJECT}-running")
    assert interrupted["TrainingJobStatus"] == "Failed"
    assert "local AWS restarted" in interrupted["FailureReason"]
    # `mlops status` shows it all; the interrupted upload completes when run again.
    status = aws.cli("-o", "json", "status")
    assert status.exit_code == 0, status.output
    shown = json.loads(status.stdout)
    assert {job["name"]: job["status"] for job in shown["training_jobs"]} == {
        f"{PROJECT}-done": "Completed",
        f"{PROJECT}-running": "Failed",
    }
    assert [(e["name"], e["status"]) for e in shown["endpoints"]] == [(ENDPOINT, "InService")]
    assert [f["name"] for f in shown["functions"]] == [FUNCTION]
    again = aws.cli("-q", "data", "upload", str(digits_dir))
    assert again.exit_code == 0, again.output
    assert sorted(listed(s3, DATA_PREFIX)) == sorted(local_files)
    assert bodies(s3, sorted(local_files)) == {key: sha256(path.read_bytes()) for key, path in local_files.items()}


def test_state_is_back_after_down_and_up(aws):
    s3, iam = aws.client("s3"), aws.client("iam")
    # Its own state, so the test stands alone; beside whatever the module's earlier tests left.
    if BUCKET not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    for index in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"down-up/{index}.bin", Body=os.urandom(1000 * (index + 1)))
    role = "down-up-role"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "sagemaker.amazonaws.com"}}
        ],
    }
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    keys = listed(s3, "")
    before = {"objects": bodies(s3, keys), "roles": iam.get_role(RoleName=role)["Role"]}
    assert aws.local("down").returncode == 0
    assert aws.local("up").returncode == 0
    s3 = aws.client("s3")
    assert {"objects": bodies(s3, keys), "roles": aws.client("iam").get_role(RoleName=role)["Role"]} == before


def test_reset_asks_refuses_while_running_and_deletes_only_its_state(aws, tmp_path):
    state_dir = aws.instance_dir / "state"
    refused = aws.local("reset", "--yes")
    assert refused.returncode == 1 and "running" in refused.stderr and state_dir.is_dir()
    assert aws.local("down").returncode == 0
    not_asked = aws.local("reset")  # no terminal to ask on, no --yes
    assert not_asked.returncode == 2 and "--yes" in not_asked.stderr and state_dir.is_dir()
    assert answer_on_a_terminal(aws, "n\n").returncode == 1 and state_dir.is_dir()
    # A state folder `local up` did not make (no marker) is left alone.
    foreign = aws.home / "local" / "1" / "state"
    (foreign / "keep").mkdir(parents=True)
    foreign_env = {**aws.env, "MLOPS_AWS__ENDPOINT_URL": "http://127.0.0.1:1"}
    kept = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "local", "reset", "--yes"],
        env={**os.environ, **foreign_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert kept.returncode == 1 and "marker" in kept.stderr and (foreign / "keep").is_dir()
    assert answer_on_a_terminal(aws, "y\n").returncode == 0
    assert not state_dir.exists()
    assert (aws.instance_dir / "server.log").is_file()  # beside the state: not the reset's to delete
    assert aws.local("up").returncode == 0
    assert aws.client("s3").list_buckets()["Buckets"] == []


def answer_on_a_terminal(aws: DurableAws, answer: str) -> subprocess.CompletedProcess:
    """`mlops local reset` with a terminal on stdin, answering its question."""
    controller, terminal = pty.openpty()
    try:
        os.write(controller, answer.encode())
        return aws.local("reset", stdin=terminal)
    finally:
        os.close(controller)
        os.close(terminal)
