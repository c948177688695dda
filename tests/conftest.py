"""Shared fixtures: the embedded local AWS (a real moto server over HTTP) and a CLI runner.

The server is started once per test session on a free loopback port through `mlops local up`, with
MLOPS_HOME in a temporary folder, and stopped at the end.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
LOCAL_CONFIG = REPO / "configs" / "local.yaml"

# Never let a test reach real AWS: no credentials, profiles or endpoints from the developer's shell.
for _name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
              "AWS_ENDPOINT_URL", "MLOPS_CONFIG", "MLOPS_OUTPUT"):
    os.environ.pop(_name, None)
for _name in [n for n in os.environ if n.startswith("MLOPS_") and "__" in n]:
    os.environ.pop(_name)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # never reach 169.254.169.254 for credentials
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mlops_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("mlops-home")
    os.environ["MLOPS_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def local_aws(mlops_home: Path) -> Iterator[str]:
    """URL of a running local AWS; MLOPS_AWS__ENDPOINT_URL points every CLI call at it."""
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "MLOPS_AWS__ENDPOINT_URL": url}
    cli = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG)]
    started = subprocess.run(cli + ["local", "up"], env=env, capture_output=True, text=True, timeout=90)
    assert started.returncode == 0, started.stderr
    os.environ["MLOPS_AWS__ENDPOINT_URL"] = url
    try:
        yield url
    finally:
        subprocess.run(cli + ["local", "down"], env=env, capture_output=True, text=True, timeout=60)
        os.environ.pop("MLOPS_AWS__ENDPOINT_URL", None)


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
def boto_client(local_aws: str):
    """A boto3 client factory for the local AWS, to assert on the resulting state."""
    import boto3

    def make(service: str):
        return boto3.client(service, region_name="us-east-1", endpoint_url=local_aws,
                            aws_access_key_id="mlops-local", aws_secret_access_key="mlops-local")

    return make


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digits sample as an ImageFolder tree, written once per session."""
    from mlops_cli.services.sample_data import write_digits_imagefolder

    path = tmp_path_factory.mktemp("data") / "digits"
    write_digits_imagefolder(path)
    return path
