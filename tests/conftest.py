"""Shared fixtures: the embedded local AWS (a real moto server over HTTP), a CLI runner, the digits sample, its
small slice, and the session's one real training of the recipe (a `mlops train` job), shared by every test that
needs a trained model. Tests of a mechanism (entry points, DDP, spot, kill/resume, train-ec2, tune) train on the
small slice instead, for an epoch or two: the accuracy claims are the shared training's.

The server is started once per test session on a free loopback port through `mlops local up`, with
MLOPS_HOME in a temporary folder, and stopped at the end.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers import (
    LOCAL_CONFIG,
    SERVED_ENDPOINT,
    SERVED_PROJECT,
    aws_cli,
    copy_first_images,
    local_aws_server,
    local_client,
)

# Never let a test reach real AWS: no credentials, profiles or endpoints from the developer's shell.
for _name in (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "MLOPS_OUTPUT",
):
    os.environ.pop(_name, None)
# The suite starts hundreds of Python processes (local AWS servers, trainings, model servers, CLI runs): with
# bytecode caching off each would compile the project's modules again.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# Set and empty: no config file unless a test names one, even where the checkout has the user's own mlops.yaml
# (which `mlops` would otherwise read from the current folder or a parent).
os.environ["MLOPS_CONFIG"] = ""
for _name in [n for n in os.environ if n.startswith("MLOPS_") and "__" in n]:
    os.environ.pop(_name)
# The local AWS makes a new IAM role unassumable for a few seconds, as IAM's propagation does; the suite's
# shared server does not (tests/strict starts one that does).
os.environ["MLOPS_LOCAL_IAM_PROPAGATION_S"] = "0"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # never reach 169.254.169.254 for credentials
# Hermetic: a test that starts no local AWS talks to an address where nothing listens (port 1 needs root to bind),
# never to the user's own local AWS on configs/local.yaml's default port, and keeps its state in a home of the
# suite's own, never ~/.mlops. The local_aws fixture points the session at its own server instead.
NO_AWS_URL = "http://127.0.0.1:1"
os.environ["MLOPS_AWS__ENDPOINT_URL"] = NO_AWS_URL
os.environ["MLOPS_HOME"] = tempfile.mkdtemp(prefix="mlops-test-home-")
atexit.register(shutil.rmtree, os.environ["MLOPS_HOME"], ignore_errors=True)
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


# Tests that use these (directly or through other fixtures) are integration tests: `make check` leaves them out.
INTEGRATION_FIXTURES = {"local_aws", "trained_model", "trained_job", "digits_dir", "delayed_aws", "docs_project"}
# Fixtures that run a real training (the session's one, the 2-instance DDP job, the tuning job, the docs' project
# whose pages train and tune): their users are marked `training` (tests that train in their own body carry the mark
# themselves, as tests that start a local AWS of their own without these fixtures carry `slow`).
TRAINING_FIXTURES = {"trained_job", "ddp_job", "tuned", "docs_project"}
# Fixtures that start a local AWS of their own (about 8 s each), for settings the session's cannot have: its users
# are marked `slow`.
OWN_LOCAL_AWS_FIXTURES = {"fast_aws", "delayed_aws", "fresh_aws", "bounded_aws", "private_aws", "docs_project"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if INTEGRATION_FIXTURES & used:
            item.add_marker(pytest.mark.integration)
        if TRAINING_FIXTURES & used:
            item.add_marker(pytest.mark.training)
        if OWN_LOCAL_AWS_FIXTURES & used:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def mlops_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("mlops-home")
    os.environ["MLOPS_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def local_aws(mlops_home: Path) -> Iterator[str]:
    """URL of a running local AWS; MLOPS_AWS__ENDPOINT_URL points every CLI call at it."""
    # Real time: the suite's own traffic must not scale its endpoints (tests/ops runs a faster local AWS for that).
    # Managed spot jobs are interrupted once, when their first checkpoint reaches S3 (tests/train/test_spot.py). An idle
    # serverless endpoint scales to zero after 3 s, not a minute (tests/deploy/test_serverless*.py: the mechanism).
    settings = {
        "MLOPS_LOCAL__TIME_SCALE": "1",
        "MLOPS_LOCAL_SPOT_INTERRUPTIONS": "checkpoint",
        "MLOPS_LOCAL_SERVERLESS_IDLE_S": "3",
    }
    with local_aws_server(settings) as url:
        os.environ["MLOPS_AWS__ENDPOINT_URL"] = url
        try:
            yield url
        finally:
            os.environ["MLOPS_AWS__ENDPOINT_URL"] = NO_AWS_URL


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def mlops(runner: CliRunner):
    """Invoke the CLI in-process with the local config: mlops("data", "upload", ...) -> click Result."""
    from mlops_cli.app import app

    def invoke(*args: str, config: Path | None = LOCAL_CONFIG, input: str | None = None, env: dict | None = None):
        prefix = ["-c", str(config)] if config else []
        return runner.invoke(app, prefix + list(args), input=input, env=env, catch_exceptions=False)

    return invoke


@pytest.fixture(scope="session")
def local_env(local_aws: str) -> dict[str, str]:
    """The AWS variables that point any AWS tool (the AWS CLI, boto3 in a subprocess) at the local AWS, with its
    own credentials (what `mlops local env` prints)."""
    from mlops_cli.local.core import credentials

    found = credentials.load(local_aws)
    assert found is not None, f"`mlops local up` wrote no credentials at {credentials.path(local_aws)}"
    return credentials.process_env(local_aws, "us-east-1", found)


@pytest.fixture(scope="session")
def boto_client(local_aws: str):
    """A boto3 client factory for the local AWS (signed with its credentials), to assert on the resulting state."""
    return lambda service: local_client(local_aws, service)


@pytest.fixture(scope="session", name="aws_cli")
def aws_cli_fixture(local_aws: str):
    """Run the AWS CLI (awscli from PyPI) against the local AWS; returns the parsed JSON answer."""
    return lambda *args: aws_cli(local_aws, *args)


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits sample as an ImageFolder tree, written once per session."""
    from mlops_cli.services.sample_data import write_digits_imagefolder

    path = tmp_path_factory.mktemp("data") / "digits"
    write_digits_imagefolder(path)
    return path


@pytest.fixture(scope="session")
def digits_in_s3(local_aws: str, digits_dir: Path) -> str:
    """The digits sample uploaded to configs/local.yaml's data prefix, as a user does it (`mlops data upload`)."""
    from mlops_cli.app import app

    result = CliRunner().invoke(app, ["-c", str(LOCAL_CONFIG), "-q", "data", "upload", str(digits_dir)])
    assert result.exit_code == 0, result.output
    return "s3://mlops-local/digits/data"


SMALL_DIGITS_PREFIX = "small-data"  # under configs/local.yaml's s3.prefix


@pytest.fixture(scope="session")
def small_digits(digits_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first SMALL_DIGITS_PER_CLASS images of each class of every split (tests/recipe.py), as an ImageFolder
    tree: what tests of a mechanism train on."""
    from tests.recipe import SMALL_DIGITS_PER_CLASS

    return copy_first_images(digits_dir, tmp_path_factory.mktemp("small-digits"), SMALL_DIGITS_PER_CLASS)


@pytest.fixture(scope="session")
def small_digits_in_s3(local_aws: str, small_digits: Path) -> dict[str, str]:
    """`small_digits` uploaded to s3://mlops-local/digits/small-data; the environment that points `data.s3_prefix`
    at it (pass it as a command's env)."""
    from mlops_cli.app import app

    to = f"s3://mlops-local/digits/{SMALL_DIGITS_PREFIX}"
    result = CliRunner().invoke(app, ["-c", str(LOCAL_CONFIG), "-q", "data", "upload", str(small_digits), "--to", to])
    assert result.exit_code == 0, result.output
    return {"MLOPS_DATA__S3_PREFIX": SMALL_DIGITS_PREFIX}


@dataclass(frozen=True)
class TrainedJob:
    result: Any  # the click Result of `mlops train` (table on stdout, progress on stderr)
    description: dict[str, Any]  # DescribeTrainingJob

    @property
    def name(self) -> str:
        return self.description["TrainingJobName"]

    @property
    def model_data(self) -> str:
        return self.description["ModelArtifacts"]["S3ModelArtifacts"]


@pytest.fixture(scope="session")
def trained_job(digits_in_s3: str, boto_client) -> TrainedJob:
    """The session's one training of the recipe (tests/recipe.py): `mlops train` with configs/local.yaml alone, one
    instance, a real local job. Its model is what the accuracy claims, the deploy tests and `trained_model` use
    (named like the project's jobs, so `mlops deploy` finds it as the latest)."""
    from mlops_cli.app import app

    name = "digits-session-model"
    result = CliRunner().invoke(app, ["-c", str(LOCAL_CONFIG), "train", "--job-name", name], catch_exceptions=False)
    assert result.exit_code == 0, result.output[-3000:]
    description = boto_client("sagemaker").describe_training_job(TrainingJobName=name)
    description.pop("ResponseMetadata", None)
    assert description["TrainingJobStatus"] == "Completed", json.dumps(description, default=str)[-2000:]
    return TrainedJob(result, description)


@dataclass(frozen=True)
class TrainedModel:
    model_dir: Path  # model.tar.gz unpacked: what the engine wrote to SM_MODEL_DIR
    output_dir: Path  # output.tar.gz unpacked: metrics.json
    metrics: dict[str, Any]  # output_dir/metrics.json


@pytest.fixture(scope="session")
def trained_model(trained_job: TrainedJob, boto_client, tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """The session's one training (`trained_job`), its model and output archives unpacked here for the tests that
    load the model in-process (engine, inference, Lambda, hostile inputs)."""
    import io
    import tarfile

    root = tmp_path_factory.mktemp("trained-model")
    s3 = boto_client("s3")
    bucket, key = trained_job.model_data.removeprefix("s3://").split("/", 1)
    folders = {"model": root / "model", "output": root / "output"}
    for name, folder in folders.items():
        body = s3.get_object(Bucket=bucket, Key=key.replace("/model.tar.gz", f"/{name}.tar.gz"))["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            tar.extractall(folder, filter="data")
    metrics = json.loads((folders["output"] / "metrics.json").read_text())
    return TrainedModel(folders["model"], folders["output"], metrics)


@pytest.fixture(scope="session")
def served_model(local_aws: str, boto_client, trained_job: TrainedJob) -> Iterator[str]:
    """The session's trained model copied to a project of its own (SERVED_PROJECT), behind an endpoint from
    `mlops deploy` (SERVED_ENDPOINT): one model server for the tests that need an endpoint that answers with it."""
    from mlops_cli.app import app

    bucket, source = trained_job.model_data.removeprefix("s3://").split("/", 1)
    key = f"{SERVED_PROJECT}/models/session/output/model.tar.gz"
    boto_client("s3").copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source})
    result = CliRunner().invoke(
        app,
        ["-c", str(LOCAL_CONFIG), "deploy", "--model", f"s3://{bucket}/{key}", "--endpoint", SERVED_ENDPOINT],
        # The project's own prefix: its endpoint role reads model artifacts there only, as the model server does.
        env={"MLOPS_PROJECT": SERVED_PROJECT, "MLOPS_S3__PREFIX": SERVED_PROJECT},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    yield SERVED_ENDPOINT
    boto_client("sagemaker").delete_endpoint(EndpointName=SERVED_ENDPOINT)  # stops its model server
