"""`mlops train-ec2 --local`: the same entry point and arguments the bootstrap runs, on this machine, and the
model it leaves packed and uploaded as the bootstrap would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import OperationError, UsageError
from mlops_cli.plan.sends import sends
from mlops_cli.services.ec2.job import hyperparameter_args

if TYPE_CHECKING:
    from mlops_cli.plan import Plan
    from mlops_cli.services.ec2.job import Ec2Job


def check_data_dir(data_dir: Path) -> None:
    if not (data_dir / "train").is_dir():
        raise UsageError(
            f"data folder '{data_dir}' has no train/ split",
            hint="pass --data-dir, or write the sample set with `mlops data sample`",
        )


def local_command(job: Ec2Job, data_dir: Path, out_dir: Path) -> list[str]:
    """The same entry point and arguments the bootstrap runs, with this machine's Python."""
    import sys

    return [
        sys.executable,
        "-m",
        "model.train_ec2",
        "--data-dir",
        str(data_dir),
        "--model-dir",
        str(out_dir / "model"),
        "--checkpoint-dir",
        str(out_dir / "checkpoints"),
        *hyperparameter_args(job.hyperparameters),
    ]


def plan_local(job: Ec2Job, argv: list[str], tar_path: Path, upload: bool) -> Plan:
    """What a --local run does: the entry point here, then (unless --no-upload) the model into the job's prefix."""
    from mlops_cli.common.s3_uris import split_s3_uri
    from mlops_cli.plan import Plan
    from mlops_cli.plan.steps import ON_THIS_MACHINE

    plan = Plan(f"train-ec2 --local {job.name}")
    plan.add(ON_THIS_MACHINE, "Run", {"argv": argv}, "the EC2 entry point on this machine")
    if upload:
        bucket, key = split_s3_uri(job.model_artifact)
        plan.add("s3", "PutObject", {"Bucket": bucket, "Key": key, "Body": f"<{tar_path}>"})
    return plan


def run_local(argv: list[str], on_line: Callable[[str], None]) -> tuple[int, list[str]]:
    """Run the entry point from the source checkout, passing each output line on; (exit code, last lines)."""
    import collections
    import subprocess

    from mlops_cli.services.training.packaging import package_dir

    tail: collections.deque[str] = collections.deque(maxlen=20)
    process = subprocess.Popen(
        argv,
        cwd=package_dir().parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        bufsize=1,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            on_line(line)
            if line.strip():
                tail.append(line)
        return process.wait(), list(tail)
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        raise


def pack_model_dir(model_dir: Path, tar_path: Path) -> None:
    """`model.tar.gz` with the model dir's contents at the top (what SageMaker and the bootstrap produce)."""
    import tarfile

    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        raise OperationError(f"the entry point left no model in '{model_dir}'")
    partial = tar_path.with_name(tar_path.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            if "__pycache__" not in path.parts:
                tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    partial.replace(tar_path)


# boto3's managed transfer: one PutObject, or a multipart upload for a large model.
@sends("s3", "PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload")
def upload_artifact(s3: Any, tar_path: Path, uri: str) -> None:
    from mlops_cli.common.s3_uris import split_s3_uri

    bucket, key = split_s3_uri(uri)
    s3.upload_file(str(tar_path), bucket, key, ExtraArgs={"ContentType": "application/gzip"})
