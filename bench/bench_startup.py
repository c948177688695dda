"""Start-up time: `mlops --help` beside `python -c "import boto3"` and the SageMaker SDK's import.

Runs each command N times, interleaved (side by side, so machine load hits all alike), and prints the
medians and ratios. Target: `mlops --help` under 0.35 s.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 15
BIN = Path(sys.executable).parent


def sagemaker_sdk_available() -> bool:
    return subprocess.run([sys.executable, "-c", "import importlib.util,sys; "
                           "sys.exit(importlib.util.find_spec('sagemaker') is None)"]).returncode == 0


def main() -> None:
    commands = {
        "mlops --help": [str(BIN / "mlops"), "--help"],
        "mlops config validate": [str(BIN / "mlops"), "-c", "configs/local.yaml", "config", "validate"],
        "python -c 'import boto3'": [sys.executable, "-c", "import boto3"],
    }
    if sagemaker_sdk_available():
        commands["python -c 'import sagemaker'"] = [sys.executable, "-c", "import sagemaker"]
    else:
        print("(SageMaker SDK not installed: `pip install sagemaker` to include it; the README quotes a run with it)")
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    baseline = statistics.median(times["mlops --help"])
    print(f"{'command':34} {'median s':>9} {'x mlops --help':>15}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:34} {median:9.3f} {median / baseline:15.2f}")
    verdict = "OK" if baseline < 0.35 else "OVER TARGET"
    print(f"target: mlops --help < 0.350 s -> {baseline:.3f} s {verdict}")


if __name__ == "__main__":
    main()
