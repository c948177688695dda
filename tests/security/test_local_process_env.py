"""Code the local AWS runs gets the local AWS's credentials only, never the caller's: a session of the role it was
given (a training job, a model server, a Lambda function), or the instance's own (an EC2 bootstrap).

A local AWS of its own is started from a shell holding recognisable fake credentials: keys, a session token,
a profile in its own config and credentials files, and a secret that is no AWS variable. A training job, an
endpoint's model server, a Lambda function and an EC2 bootstrap then report their environment and what boto3
in them resolves: the local endpoint and credentials, and none of the caller's values.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port, run_script_job, tar_gz

# A local AWS of its own, a training job, an endpoint, a function, an instance.
pytestmark = [pytest.mark.integration, pytest.mark.slow]
MARK = "LEAKYCALLER"  # in every fake value the caller's shell holds
BUCKET = "env-report"
REPORT = """
import json, os
import boto3

def report():
    session = boto3.Session()
    frozen = session.get_credentials().get_frozen_credentials()
    s3 = session.client("s3")
    return {"environ": dict(os.environ), "access_key": frozen.access_key, "token": frozen.token,
            "endpoint": s3.meta.endpoint_url, "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]],
            "arn": session.client("sts").get_caller_identity()["Arn"]}

def handler(event, context):
    return report()

if __name__ == "__main__":  # a training job's model dir, or an EC2 bootstrap's home
    with open(os.path.join(os.environ.get("SM_MODEL_DIR") or os.environ["HOME"], "report.json"), "w") as out:
        json.dump(report(), out)
"""


def trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": f"{service}.amazonaws.com"}}
            ],
        }
    )


@pytest.fixture(scope="module")
def caller_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("caller-aws")
    profile = (
        f"aws_access_key_id = AKIA{MARK}PROFILE\naws_secret_access_key = {MARK}-profile-secret\n"
        f"aws_session_token = {MARK}-profile-token\n"
    )
    (folder / "config").write_text(f"[profile {MARK.lower()}]\nregion = us-east-1\n{profile}")
    (folder / "credentials").write_text(f"[{MARK.lower()}]\n{profile}")
    return {"AWS_CONFIG_FILE": str(folder / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(folder / "credentials")}


@pytest.fixture(scope="module")
def leaky_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's folder: its credentials file (what `mlops local up` writes), state and log."""
    from mlops_cli.local.core import credentials

    home = tmp_path_factory.mktemp("leaky-home")
    credentials.write(home / "credentials.json", credentials.generate())
    return home


@pytest.fixture(scope="module")
def leaky_local_aws(leaky_home: Path, caller_files: dict[str, str]) -> Iterator[str]:
    """A local AWS server whose own environment holds the caller's (fake) credentials, profile and a non-AWS
    secret. `mlops local up` already starts it without the caller's AWS_* variables; this runs the server
    module directly, so what is checked is the environment the server builds for the code it runs."""
    from mlops_cli.local.core.manager import health

    url, home = f"http://127.0.0.1:{free_port()}", leaky_home
    env = {
        **os.environ,
        **caller_files,
        "AWS_ACCESS_KEY_ID": f"AKIA{MARK}",
        "AWS_SECRET_ACCESS_KEY": f"{MARK}-secret",
        "AWS_SESSION_TOKEN": f"{MARK}-token",
        "AWS_PROFILE": MARK.lower(),
        "GITHUB_TOKEN": f"{MARK}-github",
    }
    with open(home / "server.log", "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlops_cli.local.core.server",
                "--port",
                url.rsplit(":", 1)[1],
                "--state-dir",
                str(home / "state"),
                "--credentials-file",
                str(home / "credentials.json"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 60
        while not health(url, timeout=0.5):
            assert server.poll() is None and time.monotonic() < deadline, (home / "server.log").read_text()[-2000:]
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def local_key(leaky_home: Path):
    """The credentials this local AWS accepts."""
    from mlops_cli.local.core import credentials

    found = credentials.read(leaky_home / "credentials.json")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def client(leaky_local_aws: str, local_key):
    import boto3

    def make(service: str):
        return boto3.client(service, region_name="us-east-1", endpoint_url=leaky_local_aws, **local_key.boto_kwargs())

    make("s3").create_bucket(Bucket=BUCKET)
    return make


def role(client, name: str, service: str) -> str:
    """A role for `service` that may list the buckets (what the report reads) and read the test's objects (a model
    server downloads its model as its role)."""
    iam = client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(service))["Role"]["Arn"]
    listing = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
        ],
    }
    iam.put_role_policy(RoleName=name, PolicyName="list", PolicyDocument=json.dumps(listing))
    return arn


@pytest.fixture(scope="module")
def sagemaker_role(client) -> str:
    return role(client, "env-report", "sagemaker")


def assert_local_only(report: dict, url: str, caller_files: dict[str, str], role: str | None, root_key: str) -> None:
    """The code reached the local AWS with a session of `role` (None: with the instance's own key), and nothing of
    the caller's reached it."""
    environ = report["environ"]
    shown = json.dumps(environ)
    assert MARK not in shown and MARK.lower() not in shown
    assert not any(path in shown for path in caller_files.values())
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SECURITY_TOKEN"):
        assert name not in environ
    assert environ["AWS_ENDPOINT_URL"] == url and environ["AWS_CONFIG_FILE"] == os.devnull
    if role is None:  # boto3 in the code resolves the local AWS's own key (no token)
        assert report["access_key"] == root_key and report["token"] is None and "AWS_SESSION_TOKEN" not in environ
    else:  # an STS session of the role it was given
        assert report["access_key"] != root_key and report["token"] == environ["AWS_SESSION_TOKEN"]
        assert report["arn"].startswith(f"arn:aws:sts::123456789012:assumed-role/{role}/"), report["arn"]
    assert report["endpoint"] == url and BUCKET in report["buckets"]


def test_training_job_gets_local_credentials_only(leaky_local_aws, client, sagemaker_role, local_key, caller_files):
    s3, sagemaker = client("s3"), client("sagemaker")
    s3.put_object(Bucket=BUCKET, Key="code/source.tar.gz", Body=tar_gz({"report.py": REPORT}))
    s3.put_object(Bucket=BUCKET, Key="data/one.txt", Body=b"1")
    description = run_script_job(sagemaker, "env-report", sagemaker_role, BUCKET, "", "report.py")
    assert description["TrainingJobStatus"] == "Completed", description.get("FailureReason")
    archive = s3.get_object(Bucket=BUCKET, Key="output/env-report/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        report = json.load(tar.extractfile("report.json"))
    assert_local_only(report, leaky_local_aws, caller_files, "env-report", local_key.access_key_id)
    assert report["environ"]["SM_CURRENT_HOST"] == "algo-1"  # the job's own variables are still there


def test_lambda_function_gets_local_credentials_only(leaky_local_aws, client, local_key, caller_files):
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("report.py", REPORT)
    function_role = role(client, "env-report-lambda", "lambda")
    lam = client("lambda")
    lam.create_function(
        FunctionName="env-report",
        Runtime="python3.12",
        Role=function_role,
        Handler="report.handler",
        Code={"ZipFile": code.getvalue()},
        Timeout=30,
    )
    answer = lam.invoke(FunctionName="env-report", Payload=b"{}")
    report = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, report
    assert_local_only(report, leaky_local_aws, caller_files, "env-report-lambda", local_key.access_key_id)
    assert report["environ"]["AWS_LAMBDA_FUNCTION_NAME"] == "env-report"


INFERENCE = """
import json
from report import report

def model_fn(model_dir):
    return None

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    return report()

def output_fn(prediction, accept):
    return json.dumps(prediction), "application/json"
"""


def test_endpoint_model_server_gets_local_credentials_only(
    leaky_local_aws, client, sagemaker_role, local_key, caller_files
):
    client("s3").put_object(
        Bucket=BUCKET, Key="model/model.tar.gz", Body=tar_gz({"code/report.py": REPORT, "code/inference.py": INFERENCE})
    )
    sagemaker = client("sagemaker")
    sagemaker.create_model(
        ModelName="env-report",
        ExecutionRoleArn=sagemaker_role,
        PrimaryContainer={
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312",
            "ModelDataUrl": f"s3://{BUCKET}/model/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
        },
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="env-report",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "env-report",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="env-report", EndpointConfigName="env-report")
    deadline = time.monotonic() + 120
    while (description := sagemaker.describe_endpoint(EndpointName="env-report"))[
        "EndpointStatus"
    ] == "Creating" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert description["EndpointStatus"] == "InService", description.get("FailureReason")
    try:
        answer = client("sagemaker-runtime").invoke_endpoint(
            EndpointName="env-report", Body=b"{}", ContentType="application/json"
        )
        report = json.loads(answer["Body"].read())
    finally:
        sagemaker.delete_endpoint(EndpointName="env-report")
    assert_local_only(report, leaky_local_aws, caller_files, "env-report", local_key.access_key_id)
    assert report["environ"]["SAGEMAKER_PROGRAM"] == "inference.py"  # the model's own environment is kept


def test_ec2_bootstrap_gets_local_credentials_only(leaky_local_aws, leaky_home, client, local_key, caller_files):
    from mlops_cli.services.ec2.images import find_image
    from mlops_cli.services.ec2.training import BOOTSTRAP_MARKER

    ec2 = client("ec2")
    script = f"#!/bin/bash\n{BOOTSTRAP_MARKER}\n\"$MLOPS_PYTHON\" - <<'PY'\n{REPORT}\nPY\nshutdown -h now\n"
    instance = ec2.run_instances(
        ImageId=find_image(ec2, "m5.large")["ImageId"],
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        UserData=script,
        InstanceInitiatedShutdownBehavior="terminate",
    )["Instances"][0]["InstanceId"]
    deadline = time.monotonic() + 60
    while (
        state := ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
    ) != "terminated" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert state == "terminated"
    report = json.loads((leaky_home / "state" / "ec2" / instance / "home" / "report.json").read_text())
    assert_local_only(report, leaky_local_aws, caller_files, None, local_key.access_key_id)
    assert report["environ"]["MLOPS_WORKDIR"].endswith(f"{instance}/work")
