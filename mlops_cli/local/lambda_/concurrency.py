"""Lambda concurrency that acts in the local AWS: executions counted and capped, environments kept warm.

- Reserved concurrency caps a function's executions at once; an invocation over it is refused at once with
  429 `TooManyRequestsException`, Reason `ReservedFunctionConcurrentInvocationLimitExceeded` (Lambda Developer
  Guide, "Lambda function scaling": throttled synchronous invocations get 429). Functions without a reservation
  share the account's unreserved concurrency (`ConcurrentInvocationLimitExceeded` when it is used up).
- An execution environment serves one invocation at a time and is kept for the next one, as Lambda reuses
  them: an invocation that finds one idle skips the init (no `Init Duration` in its REPORT line); without one,
  it is a cold start in a new environment, which stays warm afterwards. Idle environments beyond the provisioned
  number go after IDLE_S (Lambda does not say how long it keeps them; minutes, by its own accounts).
- Provisioned concurrency keeps that many environments of the version initialised whether used or not.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops_cli.local.lambda_.runtime import END_OF_LOGS

Key = tuple[str, str, str, str]  # account, region, function name, version (for $LATEST: and its revision)
IDLE_S = 300.0
MAX_IDLE = 16  # idle environments kept per version beyond the provisioned ones
START_LIMIT_S = 30.0  # a provisioned environment's init, at most (Lambda's own limit is 10 s; the host may be slow)


@dataclass(frozen=True)
class Throttle:
    reason: str
    message: str = "Rate Exceeded."


class Executions:
    """Executions running now, per (account, region, function)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[tuple[str, str, str], int] = {}

    def acquire(
        self,
        account: str,
        region: str,
        function: str,
        reserved: int | None,
        unreserved: Callable[[], int],
        reserved_functions: set[str],
    ) -> Throttle | None:
        """Count one more execution, or say why it is throttled. `unreserved` gives the account's unreserved
        concurrency; functions named in `reserved_functions` do not draw on it."""
        with self.lock:
            if reserved is not None:
                if self.running.get((account, region, function), 0) >= reserved:
                    return Throttle("ReservedFunctionConcurrentInvocationLimitExceeded")
            else:
                shared = sum(
                    count
                    for (acc, reg, name), count in self.running.items()
                    if (acc, reg) == (account, region) and name not in reserved_functions
                )
                if shared >= unreserved():
                    return Throttle("ConcurrentInvocationLimitExceeded")
            key = (account, region, function)
            self.running[key] = self.running.get(key, 0) + 1
            return None

    def release(self, account: str, region: str, function: str) -> None:
        with self.lock:
            key = (account, region, function)
            self.running[key] = max(0, self.running.get(key, 0) - 1)


class Environment:
    """One execution environment: a process of runtime.py, its answers (stdout, one JSON document a line) and its
    log (stderr, cut per invocation at runtime.END_OF_LOGS) read by two threads of its own."""

    def __init__(self, process: subprocess.Popen, log_stream: str):
        self.process = process
        self.log_stream = log_stream
        self.documents: queue.Queue[dict[str, Any] | None] = queue.Queue()  # None: the process ended
        self.logs: queue.Queue[str | None] = queue.Queue()  # one invocation's log; None: the process ended
        self.idle_since = time.monotonic()
        self.init_ms: float | None = None  # set once its init said ready: from then on it is warm
        threading.Thread(target=self._read_documents, daemon=True, name="lambda-env-out").start()
        threading.Thread(target=self._read_logs, daemon=True, name="lambda-env-log").start()

    def _read_documents(self) -> None:
        stream = self.process.stdout
        for line in iter(stream.readline if stream else (lambda: b""), b""):
            try:
                document = json.loads(line)
            except ValueError:
                continue
            if isinstance(document, dict):
                self.documents.put(document)
        self.documents.put(None)

    def _read_logs(self) -> None:
        stream = self.process.stderr
        lines: list[str] = []
        for raw in iter(stream.readline if stream else (lambda: b""), b""):
            line = raw.decode("utf-8", "replace")
            if line.startswith(END_OF_LOGS):
                self.logs.put("".join(lines).removesuffix("\n"))
                lines = []
            else:
                lines.append(line)
        self.logs.put("".join(lines))
        self.logs.put(None)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        self.process.kill()
        try:
            self.process.wait(timeout=5)  # reaped, so alive() is False from now on
        except subprocess.TimeoutExpired:
            pass


class WarmEnvironments:
    """Initialised environments per function version: idle ones wait for the next invocation; at least the
    provisioned number live (idle or busy)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready: dict[Key, list[Environment]] = {}  # idle, oldest first
        self.busy: dict[Key, int] = {}
        self.wanted: dict[Key, int] = {}
        self.starting: dict[Key, int] = {}
        self.spawners: dict[Key, Callable[[], Environment]] = {}

    def provision(self, key: Key, count: int, spawn: Callable[[], Environment] | None = None) -> None:
        """Keep `count` environments of this version (0 stops the idle ones); `spawn` starts one."""
        with self.lock:
            self.wanted[key] = count
            if spawn is not None:
                self.spawners[key] = spawn
            keep = max(0, count - self.busy.get(key, 0))
            surplus = self.ready.get(key, [])[keep:]
            self.ready[key] = self.ready.get(key, [])[:keep]
        for environment in surplus:
            environment.stop()
        self._fill(key)

    def wait_ready(self, key: Key, timeout: float) -> bool:
        """Until the wanted number of environments is ready (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.ready.get(key, [])) + self.busy.get(key, 0) >= self.wanted.get(key, 0):
                    return True
            time.sleep(0.05)
        return False

    def take(self, key: Key) -> Environment | None:
        """An idle initialised environment for one invocation (the most recently used), or None: a cold start."""
        stale: list[Environment] = []
        with self.lock:
            ready = self.ready.get(key) or []
            environment = None
            while ready and environment is None:
                candidate = ready.pop()
                if candidate.alive():
                    environment = candidate
                else:
                    stale.append(candidate)
            self.busy[key] = self.busy.get(key, 0) + 1  # a cold start is busy too, once the caller starts it
        for gone in stale:
            gone.stop()
        return environment

    def give_back(self, key: Key, environment: Environment | None) -> None:
        """The invocation is over: a live environment waits for the next one; idle ones beyond the provisioned
        number go once idle for IDLE_S (or beyond MAX_IDLE)."""
        now = time.monotonic()
        with self.lock:
            self.busy[key] = max(0, self.busy.get(key, 0) - 1)
            ready = self.ready.setdefault(key, [])
            if environment is not None and environment.alive():
                environment.idle_since = now
                ready.append(environment)
            extra = max(0, len(ready) - max(0, self.wanted.get(key, 0) - self.busy.get(key, 0)))
            old = [e for e in ready[:extra] if now - e.idle_since > IDLE_S]
            old += [e for e in ready[:extra] if e not in old][: max(0, extra - len(old) - MAX_IDLE)]
            for environment_gone in old:
                ready.remove(environment_gone)
        for environment_gone in old:
            environment_gone.stop()
        self._fill(key)

    def _fill(self, key: Key) -> None:
        with self.lock:
            spawn = self.spawners.get(key)
            missing = (
                self.wanted.get(key, 0)
                - len(self.ready.get(key, []))
                - self.busy.get(key, 0)
                - self.starting.get(key, 0)
            )
            if spawn is None:
                return
            self.starting[key] = self.starting.get(key, 0) + max(0, missing)
        for _ in range(max(0, missing)):
            threading.Thread(target=self._start, args=(key, spawn), daemon=True, name="lambda-warm").start()

    def _start(self, key: Key, spawn: Callable[[], Environment]) -> None:
        environment: Environment | None = None
        try:
            environment = spawn()
            first = environment.documents.get(timeout=START_LIMIT_S)  # its {"ready": init_ms} after its init
            ready = first is not None and "ready" in first
            if ready and first is not None:
                environment.init_ms = float(first["ready"])
        except (OSError, queue.Empty):
            ready = False
        with self.lock:
            self.starting[key] = max(0, self.starting.get(key, 0) - 1)
            wanted = self.wanted.get(key, 0) - self.busy.get(key, 0)
            keep = ready and len(self.ready.get(key, [])) < wanted
            if keep and environment is not None:
                self.ready.setdefault(key, []).append(environment)
        if not keep and environment is not None:
            environment.stop()

    def stop_all(self) -> None:
        with self.lock:
            environments = [e for ready in self.ready.values() for e in ready]
            self.ready.clear()
            self.wanted.clear()
        for environment in environments:
            environment.stop()
