"""State another version wrote and this one cannot read: `local up` refuses in one line, and deletes nothing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from importlib import metadata

import pytest

from mlops_cli.local.core import versions
from tests.helpers import LOCAL_CONFIG, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # starts (or tries to start) a local AWS of its own


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


def _local_up(tmp_path, env_extra=None):
    port = free_port()
    env = {
        **os.environ,
        "MLOPS_HOME": str(tmp_path),
        "MLOPS_AWS__ENDPOINT_URL": f"http://127.0.0.1:{port}",
        **(env_extra or {}),
    }
    durable = tmp_path / "local" / str(port) / "state" / "durable"
    command = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "local"]
    return durable, lambda verb: subprocess.run([*command, verb], env=env, capture_output=True, text=True, timeout=120)


def test_state_stamped_by_another_moto_is_refused_before_any_of_it_is_read(tmp_path):
    durable, local = _local_up(tmp_path)
    assert local("up").returncode == 0
    assert local("down").returncode == 0
    stamp = json.loads((durable / "versions.json").read_text())
    assert stamp["moto"] == metadata.version("moto") and stamp["mlops"]
    assert stat.S_IMODE((durable / "versions.json").stat().st_mode) == 0o600
    snapshot = (durable / "snapshot.pickle").read_bytes()
    (durable / "versions.json").write_text(json.dumps({**stamp, "moto": "5.2.6"}))

    up = local("up")

    assert up.returncode == 1 and "Traceback" not in up.stderr
    errors = [line for line in up.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, up.stderr
    assert "moto 5.2.6" in errors[0] and f"moto {stamp['moto']}" in errors[0] and "mlops local reset" in errors[0]
    assert (durable / "snapshot.pickle").read_bytes() == snapshot  # kept for the version that wrote it


def test_local_up_with_another_moto_installed_refuses_in_one_line_naming_it(tmp_path):
    # The installed project's metadata says which moto it supports; a shim makes this interpreter report another
    # installed moto (as after `pip install moto==5.2.6` by hand), without touching the venv.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "from importlib import metadata\n"
        "_version = metadata.version\n"
        "metadata.version = lambda name: '5.2.6' if name == 'moto' else _version(name)\n"
    )
    _, local = _local_up(tmp_path / "home", {"PYTHONPATH": os.pathsep.join([str(shim), *sys.path])})

    up = local("up")

    assert up.returncode == 2 and "Traceback" not in up.stderr, up.stderr
    errors = [line for line in up.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, up.stderr
    pinned = versions.supported()["moto"]
    assert "moto 5.2.6 is installed" in errors[0] and f"moto=={pinned}" in errors[0] and "make setup" in errors[0]
