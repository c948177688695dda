"""Fixtures for the operations tests: the session's trained model deployed as its own endpoint (`mlops deploy`,
like a user does), the AWS CLI pointed at the local AWS, and a second local AWS whose clock runs 60x faster
(the session's runs in real time, so the suite's own traffic never scales its endpoints)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LOCAL_CONFIG, free_port
from tests.deploy.conftest import cli

AWS_CLI = Path(sys.executable).with_name("aws")

ENDPOINT = "digits-ops"
FAST_TIME_SCALE = 60  # a local minute lasts one second


@pytest.fixture(scope="module")
def ops_endpoint(trained_job, local_aws):
    """The trained model on its own endpoint with `--autoscale max=2`; torn down after the module."""
    result = cli(
        "-o", "json", "deploy", "--job", trained_job.name, "--endpoint", ENDPOINT, "--autoscale", "max=2", "--wait"
    )
    assert result.exit_code == 0, result.output
    yield json.loads(result.stdout)
    cli("teardown", "--endpoint", ENDPOINT, "--yes")


@pytest.fixture(scope="module")
def fast_aws(trained_job, boto_client, mlops_home):
    """A second local AWS (`mlops local up` with local.time_scale 60) holding the session's trained model and the
    project's SageMaker role; yields (url, model S3 URI, the AWS variables that reach it)."""
    import boto3

    from mlops_cli.local.core import credentials
    from mlops_cli.services.iam_policies import assume_role_policy

    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "MLOPS_AWS__ENDPOINT_URL": url, "MLOPS_LOCAL__TIME_SCALE": str(FAST_TIME_SCALE)}
    command = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "local"]
    started = subprocess.run(command + ["up"], env=env, capture_output=True, text=True, timeout=90)
    assert started.returncode == 0, started.stderr
    try:
        keys = credentials.load(url)
        assert keys is not None, f"`mlops local up` wrote no credentials at {credentials.path(url)}"

        def client(service: str):
            return boto3.client(service, region_name="us-east-1", endpoint_url=url, **keys.boto_kwargs())

        bucket, key = trained_job.model_data[5:].split("/", 1)
        model = boto_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        client("s3").create_bucket(Bucket=bucket)
        client("s3").put_object(Bucket=bucket, Key=key, Body=model)
        client("iam").create_role(
            RoleName="digits-sagemaker-execution",
            AssumeRolePolicyDocument=json.dumps(assume_role_policy("sagemaker.amazonaws.com")),
        )
        yield url, trained_job.model_data, credentials.process_env(url, "us-east-1", keys)
    finally:
        subprocess.run(command + ["down"], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def fast_cli(fast_aws):
    """Run the CLI (in-process) and the AWS CLI against the fast local AWS."""
    url, _, aws_env = fast_aws

    def run_mlops(*args: str):
        return cli(*args, env={"MLOPS_AWS__ENDPOINT_URL": url})

    def run_aws(*args: str) -> dict:
        env = {**os.environ, **aws_env}
        done = subprocess.run(
            [str(AWS_CLI), "--endpoint-url", url, "--region", "us-east-1", "--output", "json", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout or "{}")

    return run_mlops, run_aws
