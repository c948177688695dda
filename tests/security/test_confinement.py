"""Names and keys in requests to the local AWS never reach outside its state directory.

Every attack here aims at a sentinel folder beside the state directory (what the names' `..` segments reach);
after each one the sentinel is exactly as it was and the local AWS recorded nothing it refused.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from mlops_cli.local.core import manager
from mlops_cli.local.core.names import InvalidRequest
from mlops_cli.local.core.paths import confined
from mlops_cli.local.sagemaker.model_server import LoadError, load_handlers

BUCKET = "security-tests"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312"
ESCAPE = "../../sentinel"  # as state/jobs/<name> or state/endpoints/<name>: the sentinel beside state/


@pytest.fixture(scope="module")
def sentinel(local_aws: str) -> Path:
    """A folder beside the local AWS's state directory, with one file in it."""
    state_dir = Path(manager.status(local_aws).state_dir)
    folder = state_dir.parent / "sentinel"
    folder.mkdir(exist_ok=True)
    (folder / "keep.txt").write_text("untouched")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): path.read_text() if path.is_file() else "<dir>"
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def role_arn(boto_client) -> str:
    iam = boto_client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "sagemaker.amazonaws.com"}}
        ],
    }
    try:
        arn = iam.create_role(RoleName="security-tests", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName="security-tests")["Role"]["Arn"]
    # Jobs and model servers act as this role (the local AWS enforces IAM): the bucket is theirs.
    bucket = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}
        ],
    }
    iam.put_role_policy(RoleName="security-tests", PolicyName="bucket", PolicyDocument=json.dumps(bucket))
    return arn


@pytest.fixture(scope="module")
def s3(boto_client):
    client = boto_client("s3")
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    return client


def job_request(
    name: str,
    role_arn: str,
    channel: str = "train",
    data: str = f"s3://{BUCKET}/data/",
    hyperparameters: dict[str, str] | None = None,
) -> dict:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": hyperparameters or {},
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": data,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }


def finished(sagemaker, name: str) -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        description = sagemaker.describe_training_job(TrainingJobName=name)
        if description["TrainingJobStatus"] not in ("InProgress", "Stopping"):
            return description
        time.sleep(0.2)
    raise AssertionError(f"training job {name} still {description['TrainingJobStatus']}")


def refused(call, **params) -> str:
    with pytest.raises(ClientError) as caught:
        call(**params)
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    return caught.value.response["Error"]["Message"]


def test_training_job_and_channel_names_with_dots_are_refused(boto_client, sentinel, role_arn):
    before = snapshot(sentinel)
    sagemaker = boto_client("sagemaker")
    message = refused(sagemaker.create_training_job, **job_request(ESCAPE, role_arn))
    assert f"Value '{ESCAPE}' at 'trainingJobName' failed to satisfy constraint" in message
    # ".." fits ChannelName's pattern ([A-Za-z0-9.\-_]+) but is no folder inside the job's.
    refused(sagemaker.create_training_job, **job_request("dotdot-channel", role_arn, channel=".."))
    names = [job["TrainingJobName"] for job in sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]]
    assert ESCAPE not in names and "dotdot-channel" not in names
    assert snapshot(sentinel) == before


def test_hosting_names_with_dots_are_refused(boto_client, sentinel):
    before = snapshot(sentinel)
    sagemaker = boto_client("sagemaker")
    message = refused(
        sagemaker.create_model,
        ModelName=ESCAPE,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"},
    )
    assert "at 'modelName' failed to satisfy constraint: Member must satisfy regular expression pattern" in message
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": ESCAPE,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    message = refused(sagemaker.create_endpoint_config, EndpointConfigName=ESCAPE, ProductionVariants=[variant])
    assert "2 validation errors detected" in message and "'productionVariants.1.member.modelName'" in message
    refused(sagemaker.create_endpoint, EndpointName="fine-name", EndpointConfigName=ESCAPE)
    refused(sagemaker.create_endpoint, EndpointName=ESCAPE, EndpointConfigName="fine-name")
    refused(sagemaker.update_endpoint, EndpointName="fine-name", EndpointConfigName=ESCAPE)
    refused(sagemaker.delete_endpoint, EndpointName=ESCAPE)
    assert not sagemaker.list_endpoints(NameContains="sentinel")["Endpoints"]
    assert not sagemaker.list_endpoint_configs(NameContains="sentinel")["EndpointConfigs"]
    assert snapshot(sentinel) == before


def test_channel_key_with_dots_fails_the_job_and_writes_nothing(boto_client, s3, sentinel, role_arn):
    before = snapshot(sentinel)
    # From state/jobs/<job>/algo-1/input/data/train, seven '..' reach the sentinel's parent.
    key = "climb/" + "../" * 7 + "sentinel/planted.txt"
    s3.put_object(Bucket=BUCKET, Key="climb/ok.txt", Body=b"fine")
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"planted")
    assert key in [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="climb/")["Contents"]]
    sagemaker = boto_client("sagemaker")
    sagemaker.create_training_job(**job_request("climbing-key", role_arn, data=f"s3://{BUCKET}/climb/"))
    description = finished(sagemaker, "climbing-key")
    assert description["TrainingJobStatus"] == "Failed"
    assert f"s3://{BUCKET}/{key}" in description["FailureReason"]
    assert "would be written outside its folder (train/)" in description["FailureReason"]
    assert snapshot(sentinel) == before


def test_entry_point_outside_the_source_package_never_runs(boto_client, s3, sentinel, role_arn):
    (sentinel / "run.py").write_text("open(__file__ + '.ran', 'w').write('ran')\n")
    before = snapshot(sentinel)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"\n"))
    s3.put_object(Bucket=BUCKET, Key="code/source.tar.gz", Body=buffer.getvalue())
    s3.put_object(Bucket=BUCKET, Key="data/one.txt", Body=b"1")
    sagemaker = boto_client("sagemaker")
    # From state/jobs/<job>/algo-1/code, five '..' reach the sentinel's parent.
    hyperparameters = {
        "sagemaker_program": json.dumps("../../../../../sentinel/run.py"),
        "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/code/source.tar.gz"),
    }
    sagemaker.create_training_job(**job_request("outside-entry", role_arn, hyperparameters=hyperparameters))
    description = finished(sagemaker, "outside-entry")
    assert description["TrainingJobStatus"] == "Failed"
    assert "entry point '../../../../../sentinel/run.py' not found" in description["FailureReason"]
    assert snapshot(sentinel) == before


def test_model_server_loads_handlers_from_the_archive_only(tmp_path: Path):
    model_dir = tmp_path / "model"
    (model_dir / "code").mkdir(parents=True)
    (tmp_path / "outside.py").write_text("raise SystemExit('imported from outside')\n")
    for environment in (
        {"SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/..", "SAGEMAKER_PROGRAM": "outside.py"},
        {"SAGEMAKER_PROGRAM": "../../outside.py"},
        {"SAGEMAKER_PROGRAM": str(tmp_path / "outside.py")},
    ):
        with pytest.raises(LoadError, match="leaves /opt/ml/model"):
            load_handlers(model_dir, environment)


@pytest.mark.parametrize("parts", [("..",), ("a", "..", ".."), ("/etc",), (".",), ("",)])
def test_confined_refuses_the_root_and_everything_outside(tmp_path: Path, parts):
    with pytest.raises(InvalidRequest):
        confined(tmp_path / "root", *parts)


def test_confined_resolves_links_inside(tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    assert confined(root, "a", "..", "b") == (root / "b").resolve()
    with pytest.raises(InvalidRequest):
        confined(root, "link", "elsewhere")


def test_source_package_member_outside_the_code_folder_fails_the_job(boto_client, s3, sentinel, role_arn):
    before = snapshot(sentinel)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../../../../sentinel/planted.py")  # from state/jobs/<job>/algo-1/code
        info.size = 1
        tar.addfile(info, io.BytesIO(b"\n"))
    s3.put_object(Bucket=BUCKET, Key="code/climbing.tar.gz", Body=buffer.getvalue())
    s3.put_object(Bucket=BUCKET, Key="data/one.txt", Body=b"1")
    sagemaker = boto_client("sagemaker")
    hyperparameters = {
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/code/climbing.tar.gz"),
    }
    sagemaker.create_training_job(**job_request("climbing-source", role_arn, hyperparameters=hyperparameters))
    description = finished(sagemaker, "climbing-source")
    assert description["TrainingJobStatus"] == "Failed"
    assert description["FailureReason"].startswith(
        f"ClientError: cannot unpack the source package s3://{BUCKET}/code/climbing.tar.gz: "
    )
    assert "has a '..' segment" in description["FailureReason"]
    assert snapshot(sentinel) == before


def test_source_package_hard_link_to_a_file_outside_fails_the_job(boto_client, s3, sentinel, role_arn):
    """A hard link names another file, here the sentinel's: unpacked, train.py would be that file."""
    before = snapshot(sentinel)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("train.py")
        info.type, info.linkname = tarfile.LNKTYPE, str(sentinel / "keep.txt")
        tar.addfile(info)
    s3.put_object(Bucket=BUCKET, Key="code/hard-link.tar.gz", Body=buffer.getvalue())
    s3.put_object(Bucket=BUCKET, Key="data/one.txt", Body=b"1")
    sagemaker = boto_client("sagemaker")
    hyperparameters = {
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(f"s3://{BUCKET}/code/hard-link.tar.gz"),
    }
    sagemaker.create_training_job(**job_request("hard-link-source", role_arn, hyperparameters=hyperparameters))
    description = finished(sagemaker, "hard-link-source")
    assert description["TrainingJobStatus"] == "Failed"
    assert "member 'train.py' has an absolute path" in description["FailureReason"]
    assert snapshot(sentinel) == before


def test_model_archive_symlink_chain_fails_the_endpoint_and_writes_nothing(boto_client, s3, sentinel, role_arn):
    """CVE-2025-4517's archive, aimed at the sentinel from wherever the endpoint unpacks it (extra `..` stop at
    /): tarfile's data filter on this Python let it write PWNED there; the endpoint fails, naming the member."""
    from tests.security.test_archives import symlink_chain_archive

    before = snapshot(sentinel)
    s3.put_object(
        Bucket=BUCKET,
        Key="models/chain.tar.gz",
        Body=symlink_chain_archive("../" * 40 + str(sentinel).lstrip("/")),
    )
    sagemaker = boto_client("sagemaker")
    sagemaker.create_model(
        ModelName="symlink-chain",
        ExecutionRoleArn=role_arn,
        PrimaryContainer={
            "Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312",
            "ModelDataUrl": f"s3://{BUCKET}/models/chain.tar.gz",
        },
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "symlink-chain", "InitialInstanceCount": 1}
    sagemaker.create_endpoint_config(
        EndpointConfigName="symlink-chain", ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}]
    )
    sagemaker.create_endpoint(EndpointName="symlink-chain", EndpointConfigName="symlink-chain")
    deadline = time.monotonic() + 120
    while (described := sagemaker.describe_endpoint(EndpointName="symlink-chain"))[
        "EndpointStatus"
    ] == "Creating" and time.monotonic() < deadline:
        time.sleep(0.2)
    # Nothing left for other tests that share the session's local AWS (teardown --all lists what remains).
    sagemaker.delete_endpoint(EndpointName="symlink-chain")
    sagemaker.delete_endpoint_config(EndpointConfigName="symlink-chain")
    sagemaker.delete_model(ModelName="symlink-chain")
    assert described["EndpointStatus"] == "Failed"
    reason = described["FailureReason"]
    assert f'Failed to extract model data archive from URL "s3://{BUCKET}/models/chain.tar.gz".' in reason
    assert "member 'a/b/c" in reason or "member 'dddd" in reason
    assert snapshot(sentinel) == before


def test_function_zip_slip_is_refused_and_writes_nothing(boto_client, sentinel):
    """Lambda refuses a package it cannot unzip; here also one whose members climb out of its folder."""
    before = snapshot(sentinel)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 'ran'\n")
        archive.writestr("../../../sentinel/planted.py", "planted\n")  # from state/lambda-code/<digest>
    iam, lam = boto_client("iam"), boto_client("lambda")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "lambda.amazonaws.com"}}
        ],
    }
    role = iam.create_role(RoleName="climbing-zip", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    with pytest.raises(ClientError) as refused:
        lam.create_function(
            FunctionName="climbing-zip",
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": code.getvalue()},
        )
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"].startswith("Could not unzip uploaded file.")
    assert "'..' segment" in error["Message"]
    with pytest.raises(ClientError):
        lam.get_function(FunctionName="climbing-zip")
    assert snapshot(sentinel) == before


def test_function_zip_from_s3_that_climbs_out_is_refused_at_invoke(boto_client, s3, sentinel):
    """A package from S3 reaches the local AWS only when the function first runs: Lambda's 502 then."""
    before = snapshot(sentinel)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 'ran'\n")
        archive.writestr("/tmp/zip-planted-from-s3.py", "planted\n")
    s3.put_object(Bucket=BUCKET, Key="functions/absolute.zip", Body=code.getvalue())
    iam, lam = boto_client("iam"), boto_client("lambda")
    role = iam.get_role(RoleName="climbing-zip")["Role"]["Arn"]
    lam.create_function(
        FunctionName="absolute-zip",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"S3Bucket": BUCKET, "S3Key": "functions/absolute.zip"},
    )
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName="absolute-zip", Payload=b"{}")
    assert refused.value.response["Error"]["Code"] == "InvalidZipFileException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert "absolute path" in refused.value.response["Error"]["Message"]
    assert not Path("/tmp/zip-planted-from-s3.py").exists()
    assert snapshot(sentinel) == before
