"""CloudWatch Logs written by the local AWS itself: training jobs', endpoints' and functions' output goes where
SageMaker and Lambda put it, into this same server's Logs service."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

FLUSH_S = 0.5  # a line waits at most this long for company before it is sent
BATCH = 200


def ensure_log_group(logs: Any, group: str) -> None:
    try:
        logs.create_log_group(logGroupName=group)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass


class LogStream:
    """One log stream, written line by line from an output reader and sent in batches. A batch that cannot be
    sent is reported on the server's stderr and dropped: logging must never stop the reader (the process's pipe
    would fill up) or fail the job or endpoint it describes."""

    def __init__(self, logs: Any, group: str, name: str):
        self.logs, self.group, self.name = logs, group, name
        self.pending: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.last_flush = time.monotonic()
        ensure_log_group(logs, group)
        try:
            logs.create_log_stream(logGroupName=group, logStreamName=name)
        except logs.exceptions.ResourceAlreadyExistsException:  # a relaunch of the same thing: append
            pass

    def write(self, message: str) -> None:
        with self.lock:
            self.pending.append({"timestamp": int(time.time() * 1000), "message": message})
            if len(self.pending) >= BATCH or time.monotonic() - self.last_flush >= FLUSH_S:
                self._flush_locked()

    def flush(self) -> None:
        with self.lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self.last_flush = time.monotonic()
        if self.pending:
            events, self.pending = self.pending, []
            try:
                self.logs.put_log_events(logGroupName=self.group, logStreamName=self.name, logEvents=events)
            except Exception as exc:
                print(
                    f"log stream {self.group} {self.name}: {len(events)} line(s) lost: {exc}",
                    file=sys.stderr,
                    flush=True,
                )
