"""The dry-run contract: every request of every `--dry-run -o json` plan, for every mutating command with
configs/default.yaml, is valid by botocore's service model (required members, types, enums, patterns, lengths,
ranges), checked by the very validator the local AWS runs on each request (mlops_cli.local.core.validate).

The plans read state from the local AWS (an account where nothing of the project exists yet, apart from a model
artifact for `deploy`). `mlops autoscale` plans nothing without an InService endpoint; its requests are checked
here through `deploy --autoscale`, which builds them with the same code (services/deploy/autoscaling.apply_steps).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_cli.local.core.validate import SERVICES, check_params
from tests.helpers import REPO

DEFAULT_CONFIG = REPO / "configs" / "default.yaml"
MODEL = "s3://my-ml-bucket/dog-breeds/models/contract/output/model.tar.gz"
NOT_AWS = {"local"}  # plan steps that run on this machine (train-ec2 --local)

COMMANDS = {
    "data upload": ["data", "upload", "{digits}"],
    "data upload multipart": ["data", "upload", "{large}"],
    "train": ["train"],
    "train multi-instance spot": ["train", "--instance-count", "2", "--spot"],
    "train-ec2": ["train-ec2"],
    "train-ec2 --local": ["train-ec2", "--local", "--data-dir", "{digits}", "--out-dir", "{tmp}"],
    "deploy --autoscale": ["deploy", "--model", MODEL, "--autoscale", "max=2"],
    "deploy --serverless": ["deploy", "--model", MODEL, "--serverless", "memory=2048,concurrency=5"],
    "predict-batch (a folder)": ["predict-batch", "{digits}/test", "--model", MODEL, "--wait"],
    "lambda deploy": ["lambda", "deploy"],
    "concurrency set": ["concurrency", "set", "--reserved", "10", "--provisioned", "1"],
    "teardown --all --lambda": ["teardown", "--all", "--lambda"],
    "loadtest": ["loadtest", "--duration", "2", "--images", "{digits}/test"],
    "loadtest --target lambda": ["loadtest", "--target", "lambda", "--duration", "2", "--images", "{digits}/test"],
}


@pytest.fixture(scope="module")
def model_artifact(boto_client) -> str:
    s3 = boto_client("s3")
    bucket, key = MODEL[5:].split("/", 1)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=b"not a model: only its existence is checked")
    return MODEL


@pytest.fixture(scope="module")
def large_file_dir(tmp_path_factory) -> Path:
    """A folder whose one file is uploaded in parts (over the 8 MiB multipart threshold)."""
    folder = tmp_path_factory.mktemp("contract-large")
    (folder / "train" / "001.one").mkdir(parents=True)
    (folder / "train" / "001.one" / "big.bin").write_bytes(b"\x01" * (17 * 1024 * 1024))
    return folder


@pytest.mark.parametrize("name", COMMANDS)
def test_every_planned_request_is_valid_by_the_service_model(
    name, mlops, model_artifact, digits_dir, large_file_dir, tmp_path
):
    if name == "concurrency set":  # it plans for a function that exists: the project's, deployed for real
        deployed = mlops("lambda", "deploy", config=DEFAULT_CONFIG)
        assert deployed.exit_code == 0, deployed.output
    args = [arg.format(digits=digits_dir, large=large_file_dir, tmp=tmp_path) for arg in COMMANDS[name]]
    result = mlops("-o", "json", *args, "--dry-run", config=DEFAULT_CONFIG)
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    checked = [step for step in steps if step["service"] not in NOT_AWS]
    assert name == "teardown --all --lambda" or checked, "a plan with no AWS request checks nothing"
    for step in checked:
        assert step["service"] in SERVICES, step
        errors = check_params(step["service"], step["operation"], step["params"])
        assert errors == [], f"{step['service']} {step['operation']}: {errors}"
