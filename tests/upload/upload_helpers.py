"""Helpers for the `mlops data upload` tests: small trees, remote listings, state counts, a Ctrl-C'd run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.helpers import LOCAL_CONFIG


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def small_tree(root: Path, count: int = 12) -> Path:
    """`count` files of distinct sizes and contents in two folders."""
    return write_tree(
        root,
        {f"{'train' if i % 2 else 'test'}/c{i % 3}/f{i:04d}.bin": bytes([i % 251]) * (100 + i) for i in range(count)},
    )


def remote_objects(s3, bucket: str, prefix: str = "") -> dict[str, int]:
    """key -> size, from the bucket's listing."""
    objects: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects.update({item["Key"]: item["Size"] for item in page.get("Contents", ())})
    return objects


def state_count(query: str, *params) -> int:
    """A count from the upload state database (read while another process may write it)."""
    path = Path(os.environ["MLOPS_HOME"]) / "upload-state.sqlite3"
    if not path.exists():
        return 0
    with sqlite3.connect(path, timeout=10) as db:
        try:
            return db.execute(query, params).fetchone()[0]
        except sqlite3.OperationalError:  # created a moment ago: the tables are not there yet
            return 0


def interrupt_cli(
    args: list[str], ready: Callable[[], bool], timeout: float = 60, sig: int = signal.SIGINT
) -> subprocess.CompletedProcess:
    """Run the CLI in its own process and press Ctrl-C (or send `sig`) once `ready()` is true."""
    command = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "-o", "json", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, f"finished before the interrupt: {process.communicate()}"
        assert time.monotonic() < deadline, "never became ready to interrupt"
        time.sleep(0.005)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def server_requests(url: str, method: str, bucket: str) -> int:
    """How many `method` requests for `bucket` the local AWS has logged so far."""
    from mlops_cli.local.core import manager

    log = Path(manager.status(url).log_file).read_text(errors="replace")
    return log.count(f'"{method} /{bucket}/') + log.count(f'"{method} /{bucket}?')
