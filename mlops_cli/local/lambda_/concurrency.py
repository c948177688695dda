"""Lambda concurrency that acts in the local AWS: executions counted and capped, environments kept warm.

- Reserved concurrency caps a function's executions at once; an invocation over it is refused at once with
  429 `TooManyRequestsException`, Reason `ReservedFunctionConcurrentInvocationLimitExceeded` (Lambda Developer
  Guide, "Lambda function scaling": throttled synchronous invocations get 429). Functions without a reservation
  share the account's unreserved concurrency (`ConcurrentInvocationLimitExceeded` when it is used up).
- Provisioned concurrency keeps that many environments of the version initialised and waiting: an invocation
  that finds one skips the init (no `Init Duration` in its REPORT line); the environment is replaced in the
  background, as Lambda keeps the provisioned number ready. Without one, the invocation is a cold start.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Key = tuple[str, str, str, str]  # account, region, function name, version


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


@dataclass
class Environment:
    process: subprocess.Popen
    log_stream: str


class WarmEnvironments:
    """Initialised environments per function version, kept at the provisioned number."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready: dict[Key, list[Environment]] = {}
        self.wanted: dict[Key, int] = {}
        self.starting: dict[Key, int] = {}
        self.spawners: dict[Key, Callable[[], Environment]] = {}

    def provision(self, key: Key, count: int, spawn: Callable[[], Environment] | None = None) -> None:
        """Keep `count` environments of this version ready (0 stops them); `spawn` starts one."""
        with self.lock:
            self.wanted[key] = count
            if spawn is not None:
                self.spawners[key] = spawn
            surplus = self.ready.get(key, [])[count:]
            self.ready[key] = self.ready.get(key, [])[:count]
        for environment in surplus:
            environment.process.kill()
        self._fill(key)

    def wait_ready(self, key: Key, timeout: float) -> bool:
        """Until the wanted number of environments is ready (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.ready.get(key, [])) >= self.wanted.get(key, 0):
                    return True
            time.sleep(0.05)
        return False

    def take(self, key: Key) -> Environment | None:
        """An initialised environment for one invocation (it is used up), and a replacement starts."""
        with self.lock:
            ready = self.ready.get(key) or []
            environment = ready.pop(0) if ready else None
        if environment is not None:
            self._fill(key)
        return environment

    def _fill(self, key: Key) -> None:
        with self.lock:
            spawn = self.spawners.get(key)
            missing = self.wanted.get(key, 0) - len(self.ready.get(key, [])) - self.starting.get(key, 0)
            if spawn is None:
                return
            self.starting[key] = self.starting.get(key, 0) + max(0, missing)
        for _ in range(max(0, missing)):
            threading.Thread(target=self._start, args=(key, spawn), daemon=True, name="lambda-warm").start()

    def _start(self, key: Key, spawn: Callable[[], Environment]) -> None:
        environment: Environment | None = None
        try:
            environment = spawn()
            stdout = environment.process.stdout
            line = stdout.readline() if stdout else b""  # the bootstrap's {"ready": init_ms} after its init
            ready = "ready" in json.loads(line or b"{}")
        except (OSError, ValueError):
            ready = False
        with self.lock:
            self.starting[key] = max(0, self.starting.get(key, 0) - 1)
            keep = ready and len(self.ready.get(key, [])) < self.wanted.get(key, 0)
            if keep and environment is not None:
                self.ready.setdefault(key, []).append(environment)
        if not keep and environment is not None:
            environment.process.kill()

    def stop_all(self) -> None:
        with self.lock:
            environments = [e for ready in self.ready.values() for e in ready]
            self.ready.clear()
            self.wanted.clear()
        for environment in environments:
            environment.process.kill()
