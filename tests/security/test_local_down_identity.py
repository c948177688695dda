"""`mlops local down` signals only the server it started: a foreign listener on the port, and whatever pid it or a
stale pid file names, are reported and left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import LOCAL_CONFIG, free_port

FOREIGN_SERVER = """
import http.server, json, sys
victim = int(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok", "pid": victim}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


@pytest.mark.integration  # two CLI runs and two servers in subprocesses
@pytest.mark.slow
def test_local_down_leaves_a_foreign_listener_and_the_pid_it_names_alive(tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    listener = subprocess.Popen(
        [sys.executable, "-c", FOREIGN_SERVER, str(port), str(victim.pid)], start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # until the foreign server answers
            try:
                with urllib.request.urlopen(f"{url}/_mlops/health", timeout=1) as response:
                    assert json.loads(response.read())["pid"] == victim.pid
                break
            except OSError:
                assert time.monotonic() < deadline and listener.poll() is None, "the foreign server never answered"
                time.sleep(0.05)
        # A pid file naming the victim, as a stale or forged one would: its identity does not match.
        instance = tmp_path / "local" / str(port)
        instance.mkdir(parents=True)
        (instance / "server.pid").write_text(
            json.dumps(
                {"pid": victim.pid, "start_time": "1", "command": [sys.executable, "-m", "mlops_cli.local.core.server"]}
            )
        )
        env = {**os.environ, "MLOPS_HOME": str(tmp_path), "MLOPS_AWS__ENDPOINT_URL": url}
        cli = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "local"]
        down = subprocess.run(cli + ["down"], env=env, capture_output=True, text=True, timeout=60)
        assert down.returncode == 1
        assert f"did not start listens on {url} (it reports pid {victim.pid}); it was left alone" in down.stderr
        up = subprocess.run(cli + ["up"], env=env, capture_output=True, text=True, timeout=60)
        assert up.returncode == 1 and "left alone" in up.stderr
        assert victim.poll() is None and listener.poll() is None  # both still running, never signalled
    finally:
        for process in (listener, victim):
            process.kill()
            process.wait(timeout=10)
