"""Fixtures for the operations tests: the session's trained model deployed as its own endpoint (`mlops deploy`,
like a user does), and the AWS CLI pointed at the local AWS."""

from __future__ import annotations

import json

import pytest

from tests.deploy.conftest import aws_cli, cli  # noqa: F401 (fixture re-exported)

ENDPOINT = "digits-ops"


@pytest.fixture(scope="module")
def ops_endpoint(trained_job, local_aws):
    """The trained model on its own endpoint with `--autoscale max=2`; torn down after the module."""
    result = cli("-o", "json", "deploy", "--job", trained_job.name, "--endpoint", ENDPOINT, "--autoscale", "max=2",
                 "--wait")
    assert result.exit_code == 0, result.output
    yield json.loads(result.stdout)
    cli("teardown", "--endpoint", ENDPOINT, "--yes")
