"""Fixtures for the operations tests: the AWS CLI pointed at the local AWS, and a second local AWS whose clock runs
60x faster (the session's runs in real time, so the suite's own traffic never scales its endpoints). Tests that
only need an endpoint that answers use the session's `served_model`."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.deploy.conftest import cli
from tests.helpers import aws_cli, local_aws_server, local_client

FAST_TIME_SCALE = 60  # a local minute lasts one second


@pytest.fixture(scope="module")
def fast_aws(trained_job, boto_client, mlops_home):
    """A second local AWS (`mlops local up` with local.time_scale 60) holding the session's trained model and the
    project's SageMaker role; yields (url, model S3 URI)."""
    from mlops_cli.services.iam.policies import assume_role_policy

    with local_aws_server({"MLOPS_LOCAL__TIME_SCALE": str(FAST_TIME_SCALE)}) as url:
        bucket, key = trained_job.model_data[5:].split("/", 1)
        model = boto_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        s3 = local_client(url, "s3")
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=key, Body=model)
        local_client(url, "iam").create_role(
            RoleName="digits-sagemaker-execution",
            AssumeRolePolicyDocument=json.dumps(assume_role_policy("sagemaker.amazonaws.com")),
        )
        yield url, trained_job.model_data


@pytest.fixture
def fast_cli(fast_aws):
    """Run the CLI (in-process) and the AWS CLI against the fast local AWS."""
    url = fast_aws[0]

    def run_mlops(*args: str):
        return cli(*args, env={"MLOPS_AWS__ENDPOINT_URL": url})

    return run_mlops, lambda *args: aws_cli(url, *args)


@contextmanager
def python_function(boto_client, name: str, module: str, code: str) -> Iterator[Any]:
    """A Lambda function `name` running `<module>.handler` from `code` (python3.12, 10 s timeout) with a role of
    its own in the session's local AWS; yields its Lambda client, and deletes the function and role after."""
    from mlops_cli.services.iam.policies import assume_role_policy

    iam, lam = boto_client("iam"), boto_client("lambda")
    role = iam.create_role(
        RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(assume_role_policy("lambda.amazonaws.com"))
    )["Role"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{module}.py", code)
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Arn"],
        Handler=f"{module}.handler",
        Code={"ZipFile": buffer.getvalue()},
        Timeout=10,
    )
    try:
        yield lam
    finally:
        lam.delete_function(FunctionName=name)
        iam.delete_role(RoleName=f"{name}-role")
