"""The torchrun the entry points launch (model/launcher.py): a signal that stops it, as a managed spot
interruption does on every host, is one line, not a traceback per host."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.integration  # starts torchrun and a worker process (torch imports: seconds)


def test_a_stopping_signal_is_one_line_not_a_traceback(tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text("import time\nprint('ready', flush=True)\ntime.sleep(120)\n")
    launcher = subprocess.Popen(
        [sys.executable, str(REPO / "model" / "launcher.py"), "--standalone", "--nproc-per-node=1", str(worker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert launcher.stdout is not None
    try:
        assert launcher.stdout.readline().strip() == "ready"  # the worker runs under the launcher
        launcher.send_signal(signal.SIGTERM)
        _, stderr = launcher.communicate(timeout=60)
    finally:
        launcher.kill()
    assert launcher.returncode == 128 + signal.SIGTERM
    assert "torchrun: stopped by SIGTERM" in stderr
    assert "Traceback" not in stderr and "SignalException" not in stderr, stderr
