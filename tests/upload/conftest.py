"""Fixtures for `mlops data upload`: unique buckets, a boto3 S3 client, JSON runs of the command."""

from __future__ import annotations

import itertools
import json
import os

import pytest

_names = itertools.count()


@pytest.fixture
def bucket() -> str:
    """A bucket name no other test uses (the local AWS lives for the whole session)."""
    return f"upload-test-{os.getpid()}-{next(_names)}"


@pytest.fixture
def s3(boto_client):
    return boto_client("s3")


@pytest.fixture
def upload(mlops, local_aws):
    """Run `mlops -o json data upload ARGS`; returns (exit code, summary or plan dict or None, stderr)."""

    def run(*args: str, env: dict | None = None):
        result = mlops("-o", "json", "data", "upload", *args, env=env)
        assert "Traceback" not in result.output
        document = json.loads(result.stdout) if result.stdout.strip() else None
        return result.exit_code, document, result.stderr

    return run
