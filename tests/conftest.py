"""Shared fixtures: the embedded local AWS (a real moto server over HTTP), a CLI runner, the digits sample and
the session's two real trainings (one by the engine in-process, one `mlops train` job), shared by every test
that needs a trained model.

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

from tests.helpers import LOCAL_CONFIG, SERVED_ENDPOINT, SERVED_PROJECT, aws_cli, local_aws_server, local_client

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def mlops_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("mlops-home")
    os.environ["MLOPS_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def local_aws(mlops_home: Path) -> Iterator[str]:
    """URL of a running local AWS; MLOPS_AWS__ENDPOINT_URL points every CLI call at it."""
    # Real time: the suite's own traffic must not scale its endpoints (tests/ops runs a faster local AWS for that).
    # Managed spot jobs are interrupted once, when their first checkpoint reaches S3 (tests/train/test_spot.py).
    with local_aws_server({"MLOPS_LOCAL__TIME_SCALE": "1", "MLOPS_LOCAL_SPOT_INTERRUPTIONS": "checkpoint"}) as url:
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


@dataclass(frozen=True)
class TrainedModel:
    model_dir: Path
    output_dir: Path
    checkpoint_dir: Path
    metrics: dict[str, Any]  # what run_training returned


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory, digits_dir: Path) -> TrainedModel:
    """The engine's run_training in-process with the tests' recipe (tests/recipe.py)."""
    import torch

    from model.engine import run_training
    from tests.recipe import train_config

    root = tmp_path_factory.mktemp("trained-model")
    trained = TrainedModel(root / "model", root / "output", root / "checkpoints", {})
    threads = torch.get_num_threads()  # the engine sizes the thread pool for itself; give the rest theirs back
    try:
        metrics = run_training(
            train_config(),
            digits_dir,
            trained.model_dir,
            output_dir=trained.output_dir,
            checkpoint_dir=trained.checkpoint_dir,
            log=lambda line: None,
        )
    finally:
        torch.set_num_threads(threads)
    trained.metrics.update(metrics)
    return trained


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
    """The session's one `mlops train`: one instance, configs/local.yaml's recipe, a real local job whose model
    the deploy tests serve (named like the project's jobs, so `mlops deploy` finds it as the latest)."""
    from mlops_cli.app import app

    name = "digits-session-model"
    result = CliRunner().invoke(app, ["-c", str(LOCAL_CONFIG), "train", "--job-name", name], catch_exceptions=False)
    assert result.exit_code == 0, result.output[-3000:]
    description = boto_client("sagemaker").describe_training_job(TrainingJobName=name)
    description.pop("ResponseMetadata", None)
    assert description["TrainingJobStatus"] == "Completed", json.dumps(description, default=str)[-2000:]
    return TrainedJob(result, description)


@pytest.fixture(scope="session")
def served_model(local_aws: str, boto_client, trained_model: TrainedModel) -> Iterator[str]:
    """The engine's trained model as model.tar.gz in S3, behind an endpoint from `mlops deploy` in a project of its
    own (SERVED_ENDPOINT): one model server for the tests that need an endpoint that answers with that model."""
    import io
    import tarfile

    from mlops_cli.app import app

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(trained_model.model_dir.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(trained_model.model_dir)), recursive=False)
    s3 = boto_client("s3")
    try:
        s3.create_bucket(Bucket="mlops-local")
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    key = f"{SERVED_PROJECT}/models/session/output/model.tar.gz"
    s3.put_object(Bucket="mlops-local", Key=key, Body=buffer.getvalue())
    result = CliRunner().invoke(
        app,
        ["-c", str(LOCAL_CONFIG), "deploy", "--model", f"s3://mlops-local/{key}", "--endpoint", SERVED_ENDPOINT],
        # The project's own prefix: its endpoint role reads model artifacts there only, as the model server does.
        env={"MLOPS_PROJECT": SERVED_PROJECT, "MLOPS_S3__PREFIX": SERVED_PROJECT},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    yield SERVED_ENDPOINT
    boto_client("sagemaker").delete_endpoint(EndpointName=SERVED_ENDPOINT)  # stops its model server
