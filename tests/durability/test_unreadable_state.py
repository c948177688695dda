"""State another version wrote and this one cannot read: `local up` refuses in one line, and deletes nothing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import LOCAL_CONFIG, free_port

pytestmark = pytest.mark.integration  # starts (or tries to start) a local AWS of its own


def test_a_snapshot_naming_a_class_this_version_lacks_stops_local_up_with_one_line(tmp_path):
    port = free_port()
    env = {**os.environ, "MLOPS_HOME": str(tmp_path), "MLOPS_AWS__ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    durable = tmp_path / "local" / str(port) / "state" / "durable"
    durable.mkdir(parents=True)
    snapshot = durable / "snapshot.pickle"
    snapshot.write_bytes(b"cmlops_cli.local.moved_away\nProvisioned\n.")  # a pickle of a class since moved

    up = subprocess.run(
        [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "local", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert up.returncode == 1 and "Traceback" not in up.stderr
    errors = [line for line in up.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, up.stderr
    assert str(snapshot) in errors[0] and "mlops local reset" in errors[0] and "ModuleNotFoundError" in errors[0]
    assert snapshot.read_bytes() == b"cmlops_cli.local.moved_away\nProvisioned\n."  # kept for the version that can
