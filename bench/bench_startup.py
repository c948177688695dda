"""Start-up: `mlops --help` and `mlops config validate` beside `aws --version`, boto3 and the SageMaker SDK.

Runs each command N times, interleaved (side by side, so machine load hits all alike), and prints the medians and
ratios against `aws --version` (the AWS CLI, in this venv: what a user would otherwise run). Targets: a command
that reads config (`mlops -c configs/default.yaml config validate`, its validated values remembered from an
earlier run) <= 0.5x `aws --version`, `mlops --help` <= 0.35x. The same command with nothing remembered (a fresh
MLOPS_HOME each run: pydantic, YAML and the schema paid in full) is shown for comparison.

The SageMaker SDK is not a dependency of mlops (about 1 GB with its own dependencies); its import is timed with
the first interpreter that has it: `--sagemaker-python PATH` (or $SAGEMAKER_PYTHON, e.g. for `make bench`), else
this venv's. Install it beside, e.g.:
    python3.11 -m venv /tmp/sm-venv && /tmp/sm-venv/bin/pip install sagemaker
    python bench/bench_startup.py --sagemaker-python /tmp/sm-venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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
    validate = [str(BIN / "mlops"), "-c", "configs/default.yaml", "config", "validate"]
    commands = {
        "aws --version": [str(BIN / "aws"), "--version"],
        "mlops --help": [str(BIN / "mlops"), "--help"],
        "mlops config validate": validate,
        "mlops config validate (fresh MLOPS_HOME)": validate,
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
    home = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    # As installed tools run: bytecode caching on (else mlops recompiles its modules each run, botocore never does).
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "MLOPS_HOME": str(home / "warm")}
    try:
        subprocess.run(validate, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        for run in range(RUNS):
            for name, argv in commands.items():
                cold = "fresh MLOPS_HOME" in name
                run_env = {**env, "MLOPS_HOME": str(home / f"cold-{run}")} if cold else env
                start = time.perf_counter()
                subprocess.run(argv, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                times[name].append(time.perf_counter() - start)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    baseline = statistics.median(times["aws --version"])
    print(f"{'command':56} {'median s':>9} {'x aws --version':>16}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:56} {median:9.3f} {median / baseline:16.2f}")
    for name, target in (("mlops config validate", 0.5), ("mlops --help", 0.35)):
        ratio = statistics.median(times[name]) / baseline
        print(f"target: {name} <= {target}x aws --version -> {ratio:.2f}x {'OK' if ratio <= target else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
