"""The local AWS's pid file, with the process's identity: a pid alone may name another process by the time it is
read (reused after a crash), and a listener on the port may be anything. `local down` signals a process only
when its start time and command line are the ones recorded when `local up` started it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.local.core.paths import private_file


@dataclass(frozen=True)
class Record:
    pid: int
    start_time: str  # as the OS reports it (/proc/<pid>/stat field 22, or ps's lstart)
    command: list[str]


def start_time(pid: int) -> str | None:
    """When the process started, in the OS's own units; None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before it may hold spaces or ")"
    except (OSError, IndexError):
        pass
    if sys.platform.startswith("linux"):
        return None
    return _ps(pid, "lstart")


def command_line(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]
    except OSError:
        pass
    if sys.platform.startswith("linux"):
        return None
    args = _ps(pid, "args")  # joined by spaces: compared as such (macOS and other systems without /proc)
    return args.split(" ") if args else None


def _ps(pid: int, column: str) -> str | None:
    try:
        done = subprocess.run(["ps", "-p", str(pid), "-o", f"{column}="], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def write(pid_file: Path, pid: int, command: list[str]) -> None:
    """Record the process just started (its start time is set at fork: no race with its exec)."""
    record = {"pid": pid, "start_time": start_time(pid), "command": command}
    with os.fdopen(private_file(pid_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "w") as handle:
        handle.write(json.dumps(record))


def read(pid_file: Path) -> Record | None:
    try:
        data = json.loads(pid_file.read_text())
        return Record(int(data["pid"]), str(data["start_time"]), [str(part) for part in data["command"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, or a bare pid from an older version: no identity to check, so never signalled


def alive(record: Record) -> bool:
    """Is the recorded process still running, as the same process (same start, same command)?"""
    current = command_line(record.pid)
    if current is None or start_time(record.pid) != record.start_time:
        return False
    return current == record.command or " ".join(current) == " ".join(record.command)
