"""Fixtures for the strict local AWS: clients that skip boto3's own checks (so the server's are what refuses), and
a second local AWS whose new IAM roles take a while to become assumable, as on AWS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import local_aws_server, local_client

PROPAGATION_S = 5.0  # longer than what train does between creating the role and CreateTrainingJob


def make_client(url: str, service: str, **config):
    """A client for the local AWS at `url` that does not retry: the first refusal is what the test sees."""
    return local_client(url, service, retries={"max_attempts": 1}, **config)


@pytest.fixture(scope="session")
def raw_client(local_aws: str):
    """A boto3 client without client-side parameter validation: what it sends, only the local AWS checks."""
    return lambda service: make_client(local_aws, service, parameter_validation=False)


@pytest.fixture(scope="module")
def delayed_aws(mlops_home: Path) -> Iterator[str]:
    """Its own local AWS, where a new role is not assumable for PROPAGATION_S seconds (IAM propagation)."""
    with local_aws_server({"MLOPS_LOCAL_IAM_PROPAGATION_S": str(PROPAGATION_S)}) as url:
        yield url
