"""Start-up time: `mlops --help` beside `python -c "import boto3"` and the SageMaker SDK's import.

Runs each command N times, interleaved (side by side, so machine load hits all alike), and prints the
medians and ratios. Target: `mlops --help` under 0.35 s.

The SageMaker SDK is not a dependency of mlops (about 1 GB with its own dependencies); its import is timed with
the first interpreter that has it: `--sagemaker-python PATH` (or $SAGEMAKER_PYTHON, e.g. for `make bench`), else
this venv's. Install it beside, e.g.:
    python3.11 -m venv /tmp/sm-venv && /tmp/sm-venv/bin/pip install sagemaker
    python bench/bench_startup.py --sagemaker-python /tmp/sm-venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 15
BIN = Path(sys.executable).parent


def sdk_version(python: str) -> str | None:
    """The SageMaker SDK's version in that interpreter, or None where it is not installed."""
    found = subprocess.run(
        [python, "-c", "from importlib.metadata import version; print(version('sagemaker'))"],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip() if found.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sagemaker-python",
        default=os.environ.get("SAGEMAKER_PYTHON", sys.executable),
        help="an interpreter with the SageMaker SDK installed (default: this one)",
    )
    args = parser.parse_args()
    commands = {
        "mlops --help": [str(BIN / "mlops"), "--help"],
        "mlops config validate": [str(BIN / "mlops"), "-c", "configs/local.yaml", "config", "validate"],
        "python -c 'import boto3'": [sys.executable, "-c", "import boto3"],
    }
    version = sdk_version(args.sagemaker_python)
    if version:
        # v3's `sagemaker` is a bare namespace; what a user imports to launch training is the real cost.
        trainer = (
            "from sagemaker.train import ModelTrainer"
            if int(version.split(".")[0]) >= 3
            else "from sagemaker.pytorch import PyTorch"
        )
        for statement in ("import sagemaker", trainer):
            commands[f"{statement} ({version})"] = [args.sagemaker_python, "-c", statement]
    else:
        print(f"(no SageMaker SDK in {args.sagemaker_python}: see this script's docstring to include it)")
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(RUNS):
        for name, argv in commands.items():
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            times[name].append(time.perf_counter() - start)
    baseline = statistics.median(times["mlops --help"])
    print(f"{'command':56} {'median s':>9} {'x mlops --help':>15}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:56} {median:9.3f} {median / baseline:15.2f}")
    verdict = "OK" if baseline < 0.35 else "OVER TARGET"
    print(f"target: mlops --help < 0.350 s -> {baseline:.3f} s {verdict}")


if __name__ == "__main__":
    main()
