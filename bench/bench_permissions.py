"""`mlops config permissions` (no command named: the policy for every command) beside `python -c pass` and
`aws --version`.

Each command runs N times, interleaved (machine load hits all alike); the medians of wall time and of CPU time
(user + system, which load on a shared machine inflates far less) are printed, with the wall ratio to
`aws --version`. Target: the warm run (the derivation kept in $MLOPS_HOME/cache from an earlier run with the same
code, config and botocore) under 1 s. The cold run (a fresh MLOPS_HOME each time: every planner run offline
through botocore's service models) is shown for comparison: it is what the first run after an upgrade or a
config change pays.

    PYTHONPATH=. python bench/bench_permissions.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
TARGET_S = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    permissions = [str(BIN / "mlops"), "-c", "configs/default.yaml", "-o", "json", "config", "permissions"]
    permissions += ["--account", "123456789012"]  # no STS call: the account is the only input AWS would give
    commands = {"python -c pass": [sys.executable, "-c", "pass"]}
    if (BIN / "aws").exists():
        commands["aws --version"] = [str(BIN / "aws"), "--version"]
    commands["mlops config permissions"] = permissions
    commands["mlops config permissions (fresh MLOPS_HOME)"] = permissions
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    home = Path(tempfile.mkdtemp(prefix="bench-permissions-"))
    # As installed tools run: bytecode caching on (else mlops recompiles its modules each run, botocore never does).
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "MLOPS_HOME": str(home / "warm")}
    try:
        subprocess.run(permissions, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        for run in range(args.runs):
            for name, argv in commands.items():
                cold = "fresh MLOPS_HOME" in name
                run_env = {**env, "MLOPS_HOME": str(home / f"cold-{run}")} if cold else env
                before, start = _children_cpu(), time.perf_counter()
                subprocess.run(argv, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(_children_cpu() - before)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    baseline = statistics.median(times.get("aws --version") or times["python -c pass"])
    print(f"{'command':46} {'wall s':>7} {'cpu s':>6} {'x baseline':>11} (wall; aws --version, else python -c pass)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:46} {median:7.3f} {statistics.median(cpu[name]):6.3f} {median / baseline:11.2f}")
    warm = statistics.median(times["mlops config permissions"])
    print(f"target: mlops config permissions < {TARGET_S:g} s -> {warm:.3f} s {'OK' if warm < TARGET_S else 'OVER'}")


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


if __name__ == "__main__":
    main()
