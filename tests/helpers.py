"""Helpers the test packages share: ports, a local AWS of their own, clients and the AWS CLI pointed at one, and a
record of the AWS calls the CLI makes in-process. Fixtures live in tests/conftest.py; plain functions live here."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LOCAL_CONFIG = REPO / "configs" / "local.yaml"
AWS_CLI = Path(sys.executable).with_name("aws")  # awscli from PyPI, in the test extras
SERVED_PROJECT = "served"
SERVED_ENDPOINT = f"{SERVED_PROJECT}-endpoint"  # the session's `served_model` endpoint (tests/conftest.py)


def free_port() -> int:
    """A loopback port nothing listens on (closed again on return: a request there cannot connect)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_url() -> str:
    """An endpoint URL where nothing listens: any AWS call there fails with "cannot reach"."""
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def local_aws_server(env: dict[str, str] | None = None, config: Path = LOCAL_CONFIG) -> Iterator[str]:
    """`mlops local up` on a free port (with `env` over os.environ: MLOPS_HOME, time scale, ...); yields its URL
    and runs `mlops local down` on the way out."""
    url = f"http://127.0.0.1:{free_port()}"
    full_env = {**os.environ, **(env or {}), "MLOPS_AWS__ENDPOINT_URL": url}
    command = [sys.executable, "-m", "mlops_cli", "-c", str(config), "local"]
    started = subprocess.run(command + ["up"], env=full_env, capture_output=True, text=True, timeout=90)
    assert started.returncode == 0, started.stderr
    try:
        yield url
    finally:
        subprocess.run(command + ["down"], env=full_env, capture_output=True, text=True, timeout=60)


def local_client(url: str, service: str, **config: Any) -> Any:
    """A boto3 client for the local AWS at `url`, signed with its credentials; `config`: botocore Config options."""
    import boto3
    from botocore.config import Config

    from mlops_cli.local.core import credentials

    keys = credentials.load(url)
    assert keys is not None, f"`mlops local up` wrote no credentials at {credentials.path(url)}"
    return boto3.client(
        service, region_name="us-east-1", endpoint_url=url, **keys.boto_kwargs(), config=Config(**config)
    )


def aws_cli(url: str, *args: str, timeout: float = 60) -> dict:
    """The AWS CLI against the local AWS at `url` (its credentials); the parsed JSON answer."""
    from mlops_cli.local.core import credentials

    keys = credentials.load(url)
    assert keys is not None, f"`mlops local up` wrote no credentials at {credentials.path(url)}"
    env = {**os.environ, **credentials.process_env(url, "us-east-1", keys)}
    done = subprocess.run(
        [str(AWS_CLI), "--endpoint-url", url, "--region", "us-east-1", "--output", "json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout or "{}")


@dataclass(frozen=True)
class AwsCall:
    service: str  # boto3's name: s3, sagemaker-runtime, ...
    operation: str  # the API's: HeadObject
    params: dict[str, Any]


@contextmanager
def recorded_aws_calls() -> Iterator[list[AwsCall]]:
    """Every AWS request made in this process while the block runs, in order, with the parameters the code
    passed (botocore's `provide-client-params` event, registered on every client created meanwhile)."""
    import botocore.session

    calls: list[AwsCall] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append(AwsCall(model.service_model.service_name, model.name, dict(params)))

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("provide-client-params.*.*", record)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


def tar_gz(files: dict[str, str]) -> bytes:
    """A gzipped tarball of text files (a source package, a model artifact)."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


def run_script_job(
    sagemaker: Any, name: str, role: str, bucket: str, prefix: str, program: str, hyperparameters: dict | None = None
) -> dict:
    """A training job of `program` from s3://bucket/<prefix>code/source.tar.gz, one channel `train` on
    <prefix>data/, outputs under <prefix>output; waited for to its end. Its description."""
    import time

    sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312",
            "TrainingInputMode": "File",
        },
        RoleArn=role,
        HyperParameters={
            "sagemaker_program": json.dumps(program),
            "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/{prefix}code/source.tar.gz"),
            **{key: json.dumps(value) for key, value in (hyperparameters or {}).items()},
        },
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{prefix}data/"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/{prefix}output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
    )
    deadline = time.monotonic() + 300
    while (description := sagemaker.describe_training_job(TrainingJobName=name))[
        "TrainingJobStatus"
    ] == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.3)
    return description


def copy_first_images(source: Path, dest: Path, per_class: dict[str, int]) -> Path:
    """The first `per_class[split]` images of each class of each split of an ImageFolder tree, copied to `dest`."""
    import shutil

    for split, count in per_class.items():
        for class_dir in sorted((source / split).iterdir()):
            (dest / split / class_dir.name).mkdir(parents=True)
            for image in sorted(class_dir.iterdir())[:count]:
                shutil.copy(image, dest / split / class_dir.name / image.name)
    return dest


def converge_role(role: Any, config: Any, client_for: Any, *, account_id: str, partition: str) -> None:
    """Create a generated SageMaker role, or put its trust and policy back, with the steps train and deploy plan."""
    from mlops_cli.plan import Executor, Plan
    from mlops_cli.services.iam.sagemaker_roles import role_steps

    steps = role_steps(role, config, account_id=account_id, partition=partition)
    Executor(client_for).execute(Plan(f"converge role {role.name(config)}", steps))


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    """`condition()` once it is true (polled), or an AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def put_alarm(cloudwatch: Any, name: str, tags: list[dict[str, str]] | None = None, **metric: Any) -> None:
    """A CloudWatch metric alarm of a user's (a one-minute Average of ModelLatency above 1 unless `metric` says
    otherwise), tagged only when `tags` are given."""
    params = {
        "AlarmName": name,
        "Namespace": "AWS/SageMaker",
        "MetricName": "ModelLatency",
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanThreshold",
        **metric,
    }
    cloudwatch.put_metric_alarm(**params, **({"Tags": tags} if tags else {}))
