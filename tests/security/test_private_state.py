"""What the local AWS keeps is its user's only: even under umask 000, every folder it makes is 0700 and every
file 0600 (its state, journal, blobs, snapshot, log, pid file, credentials), and its journal holds no signature,
session token or secret key (it once held every request's Authorization header)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from mlops_cli.local.core import credentials, manager
from tests.helpers import LOCAL_CONFIG
from tests.security.test_connections import own_local_aws

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a local AWS of its own, killed and started again


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("private") / "mlops-home"  # not there yet: `local up` makes it


@pytest.fixture(scope="module")
def private_aws(home: Path) -> Iterator[str]:
    previous = os.umask(0o000)  # the loosest: nothing the local AWS writes may rely on the umask
    try:
        with own_local_aws(home) as url:
            yield url
    finally:
        os.umask(previous)


@pytest.fixture(scope="module")
def secrets_sent(private_aws: str) -> list[str]:
    """Requests that change state (so they are journaled), signed every way; returns what must not be kept."""
    keys = credentials.load(private_aws)
    s3 = boto3.client(
        "s3",
        endpoint_url=private_aws,
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
        **keys.boto_kwargs(),
    )
    s3.create_bucket(Bucket="private-state")
    sent = [keys.secret_access_key]
    for key, body in (("small.txt", b"small"), ("large.bin", os.urandom(64 * 1024))):  # inline, and a blob
        request = AWSRequest("PUT", f"{private_aws}/private-state/{key}", data=body, headers={})
        S3SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key), "s3", "us-east-1").add_auth(request)
        assert requests.put(request.url, data=body, headers=dict(request.headers), timeout=10).status_code == 200
        sent.append(re.search(r"Signature=([0-9a-f]{64})", request.headers["Authorization"]).group(1))
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "private-state", "Key": "presigned.txt"})
    assert requests.put(url, data=b"presigned", timeout=10).status_code == 200
    sent.append(parse_qs(urlsplit(url).query)["X-Amz-Signature"][0])
    older = boto3.client(  # S3's older presigned form: AWSAccessKeyId, Expires, Signature (base64)
        "s3",
        endpoint_url=private_aws,
        region_name="us-east-1",
        config=Config(signature_version="s3"),
        **keys.boto_kwargs(),
    )
    url = older.generate_presigned_url("put_object", Params={"Bucket": "private-state", "Key": "presigned-v2.txt"})
    assert requests.put(url, data=b"presigned", timeout=10).status_code == 200
    encoded = url.split("Signature=", 1)[1].split("&", 1)[0]
    sent += [encoded, parse_qs(urlsplit(url).query)["Signature"][0]]
    return sent


def test_the_journal_keeps_no_signature_and_no_secret(private_aws, secrets_sent):
    journal = Path(manager.status(private_aws).state_dir) / "durable" / "journal.log"
    kept = journal.read_bytes()
    assert b"presigned.txt" in kept and b"small.txt" in kept  # the requests are there, to be replayed
    for secret in secrets_sent:
        assert secret.encode() not in kept


def test_the_server_log_keeps_no_signature_and_no_secret(private_aws, secrets_sent):
    """werkzeug logs every request line: a presigned URL's signature there is a credential for up to 7 days."""
    kept = Path(manager.status(private_aws).log_file).read_bytes()
    assert b"presigned.txt" in kept and b"presigned-v2.txt" in kept  # the requests are logged
    for secret in secrets_sent:
        assert secret.encode() not in kept


def test_everything_under_mlops_home_is_owner_only_under_umask_000(home, private_aws, secrets_sent):
    assert Path(manager.status(private_aws).log_file).exists()
    seen = []
    for path in [home, *home.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        seen.append(path.name)
        assert mode & 0o077 == 0, f"{path.relative_to(home.parent)} is {oct(mode)}"
    for name in ("local", "state", "durable", "blobs", "journal.log", "server.log", "server.pid", "credentials.json"):
        assert name in seen


def test_what_the_journal_keeps_without_signatures_still_replays_after_a_crash(private_aws, secrets_sent):
    """SIGKILL (no snapshot at stop): the next start replays the journal, redacted signatures and all."""
    import signal
    import time

    server = manager.status(private_aws)
    os.killpg(server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while manager.status(private_aws).running and time.monotonic() < deadline:
        time.sleep(0.1)
    again = subprocess.run(  # the CLI's own `local up`, so the server is not this test's child
        [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "local", "up"],
        env={**os.environ, "MLOPS_AWS__ENDPOINT_URL": private_aws},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    s3 = boto3.client(
        "s3", endpoint_url=private_aws, region_name="us-east-1", **credentials.load(private_aws).boto_kwargs()
    )
    assert s3.get_object(Bucket="private-state", Key="presigned.txt")["Body"].read() == b"presigned"
    assert s3.get_object(Bucket="private-state", Key="small.txt")["Body"].read() == b"small"
    assert len(s3.get_object(Bucket="private-state", Key="large.bin")["Body"].read()) == 64 * 1024
