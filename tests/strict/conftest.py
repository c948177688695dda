"""Fixtures for the strict local AWS: clients that skip boto3's own checks (so the server's are what refuses), and
a second local AWS whose new IAM roles take a while to become assumable, as on AWS."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCAL_CONFIG = REPO / "configs" / "local.yaml"
PROPAGATION_S = 5.0  # longer than what train does between creating the role and CreateTrainingJob


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_client(url: str, service: str, **config):
    """A boto3 client for the local AWS at `url`, signed with its credentials; `config`: botocore Config options."""
    import boto3
    from botocore.config import Config

    from mlops_cli.local.core import credentials

    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=url,
        **credentials.load(url).boto_kwargs(),
        config=Config(retries={"max_attempts": 1}, **config),
    )


@pytest.fixture(scope="session")
def raw_client(local_aws: str):
    """A boto3 client without client-side parameter validation: what it sends, only the local AWS checks."""
    return lambda service: make_client(local_aws, service, parameter_validation=False)


@pytest.fixture(scope="module")
def delayed_aws(mlops_home: Path) -> Iterator[str]:
    """Its own local AWS, where a new role is not assumable for PROPAGATION_S seconds (IAM propagation)."""
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "MLOPS_AWS__ENDPOINT_URL": url, "MLOPS_LOCAL_IAM_PROPAGATION_S": str(PROPAGATION_S)}
    cli = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG)]
    started = subprocess.run(cli + ["local", "up"], env=env, capture_output=True, text=True, timeout=90)
    assert started.returncode == 0, started.stderr
    try:
        yield url
    finally:
        subprocess.run(cli + ["local", "down"], env=env, capture_output=True, text=True, timeout=60)
