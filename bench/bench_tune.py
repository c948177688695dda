"""`mlops tune` (4 trials, 2 at a time) beside the same four trainings run by hand, on the digits, local AWS.

Starts its own local AWS (a free port, MLOPS_HOME in a temporary folder), writes and uploads the digits sample,
then times, as wall clock of the CLI:

  tune        `mlops tune --max-jobs 4 --parallel 2 --strategy random` (configs/local.yaml's ranges, 1 epoch)
  pairs       the four trainings of that tuning run (its values) by `mlops train`, two at a time, right after it
  sequential  the same four `mlops train` runs, one after the other (pairs / sequential = the parallel speed-up
              this machine achieves)

tune and pairs, the two compared, run back to back, so a change in machine load hits them about alike.

Tuning adds orchestration, not cost. Target: tune <= 1.1 x (sequential / speed-up), where speed-up = sequential /
pairs, i.e. tune <= 1.1 x pairs.

    .venv/bin/python bench/bench_tune.py [--epochs 1] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET = 1.1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def mlops(*args: str) -> list[str]:
    return [str(BIN / "mlops"), "-c", str(REPO / "configs" / "local.yaml"), *args]


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv[3:])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


def train_argv(name: str, values: dict, epochs: int) -> list[str]:
    hps = [part for key, value in sorted(values.items()) for part in ("--hp", f"{key}={value}")]
    return mlops("-q", "train", "--job-name", name, "--hp", f"epochs={epochs}", *hps)


def measure(method: str, tag: str, trials: list[dict], epochs: int, env: dict[str, str]) -> float:
    """Wall seconds of the four trainings by hand: one at a time (sequential) or two at a time (pairs)."""
    started = time.perf_counter()
    if method == "sequential":
        for index, values in enumerate(trials):
            run(train_argv(f"digits-bench-{tag}-seq-{index}", values, epochs), env)
    else:
        for pair in range(0, len(trials), 2):
            running = [
                subprocess.Popen(
                    train_argv(f"digits-bench-{tag}-pair-{index}", trials[index], epochs),
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for index in range(pair, min(pair + 2, len(trials)))
            ]
            if any(process.wait() != 0 for process in running):
                sys.exit("a parallel `mlops train` failed")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="medians over rounds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-tune-") as temp:
        home = Path(temp) / "home"
        url = f"http://127.0.0.1:{free_port()}"
        env = {**os.environ, "MLOPS_HOME": str(home), "MLOPS_AWS__ENDPOINT_URL": url, "NO_COLOR": "1"}
        os.environ.update(MLOPS_HOME=str(home))
        from mlops_cli.local.core import manager

        manager.up(url)
        try:
            data = Path(temp) / "digits"
            run(mlops("-q", "data", "sample", str(data)), env)
            run(mlops("-q", "data", "upload", str(data)), env)
            print(
                f"machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()}; "
                f"load average {os.getloadavg()[0]:.1f} at start"
            )

            times: dict[str, list[float]] = {"sequential": [], "pairs": [], "tune": []}
            for round_index in range(args.rounds):
                # Tune, then the same four trainings (the values it chose) two at a time right after it, then one
                # at a time: the two compared run back to back.
                tag = f"r{round_index}"
                started = time.perf_counter()
                tuned = run(
                    mlops(
                        "-o",
                        "json",
                        "tune",
                        "--job-name",
                        f"digits-bench-{tag}",
                        "--strategy",
                        "random",
                        "--max-jobs",
                        "4",
                        "--parallel",
                        "2",
                        "--hp",
                        f"epochs={args.epochs}",
                    ),
                    env,
                )
                times["tune"].append(time.perf_counter() - started)
                trials = [trial["values"] for trial in json.loads(tuned.stdout)["trials"]]
                for method in ("pairs", "sequential"):
                    times[method].append(measure(method, tag, trials, args.epochs, env))
        finally:
            manager.down(url)

    sequential_s, pairs_s, tune_s = (statistics.median(times[name]) for name in ("sequential", "pairs", "tune"))

    speed_up = sequential_s / pairs_s
    allowed = TARGET * sequential_s / speed_up
    ratio = tune_s / (sequential_s / speed_up)
    print(
        f"4 trials x {args.epochs} epoch(s) on the digits, {args.rounds} round(s), medians; "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(f"  sequential  4 x mlops train, one at a time   {sequential_s:7.1f} s")
    print(f"  pairs       4 x mlops train, two at a time   {pairs_s:7.1f} s   (speed-up {speed_up:.2f}x)")
    print(f"  tune        mlops tune --parallel 2          {tune_s:7.1f} s")
    verdict = "OK" if tune_s <= allowed else "ABOVE TARGET"
    print(f"tune / (sequential / speed-up) = {ratio:.2f}x (target <= {TARGET}x): {verdict}")


if __name__ == "__main__":
    main()
