"""Ctrl-C a CLI run in a subprocess at a chosen moment (the tests of commands that wait on AWS jobs)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable

from tests.helpers import REPO

DEADLINE_S = 120


def interrupted(
    command: list[str], when: Callable[[str], bool], stdin: int | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str, str]:
    """Run `command`, send SIGINT (Ctrl-C) after the first stderr line that `when` accepts; (process, stderr
    up to that line, the rest)."""
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=stdin,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )
    seen = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            seen.append(line)
            if when(line):
                break
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
    return process, "".join(seen), rest
