"""A local AWS belongs to one home (a project's `.mlops/`, or MLOPS_HOME): a command from another home signs with
other credentials, and the refusal says whose instance it reached and the way out, not an IAM hint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_cli.local.core import credentials
from tests.helpers import LOCAL_CONFIG, REPO, local_aws_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a local AWS of another home


def mlops(home: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLOPS_HOME": str(home), "MLOPS_AWS__ENDPOINT_URL": url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_request_from_another_home_is_refused_naming_the_instance_home(tmp_path):
    owner, other = tmp_path / "project-a" / ".mlops", tmp_path / "project-b" / ".mlops"
    with local_aws_server({"MLOPS_HOME": str(owner)}) as url:
        assert mlops(owner, url, "status").returncode == 0  # its own home gets in
        # Another home that never started one (the CLI signs with a placeholder), then one with keys of its own.
        for attempt in ("never started", "own keys"):
            if attempt == "own keys":
                credentials.ensure(url, other)
            done = mlops(other, url, "status")
            assert done.returncode == 1, done.stderr
            lines = done.stderr.strip().splitlines()
            assert lines[0].startswith("error: ") and "belongs to another home" in lines[0], done.stderr
            assert f"MLOPS_HOME={owner}" in lines[0]
            assert f"MLOPS_HOME={owner}" in lines[1] and 'eval "$(MLOPS_HOME=' in lines[1]
            assert "grant that permission" not in done.stderr and "Traceback" not in done.stderr
        # Any other AWS tool hears the same from the local AWS itself (here: the S3 protocol's InvalidAccessKeyId).
        import boto3
        from botocore.exceptions import ClientError

        keys = credentials.load(url, other)
        assert keys is not None
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=url, **keys.boto_kwargs())
        with pytest.raises(ClientError) as refused:
            s3.list_buckets()
        assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        assert f"it belongs to MLOPS_HOME={owner}" in refused.value.response["Error"]["Message"]
