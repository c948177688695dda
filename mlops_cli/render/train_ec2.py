"""Tables for `mlops train-ec2`: the launched instance, the finished job, a --local run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_cli.render import key_value_table

if TYPE_CHECKING:
    from rich.console import Console


def _draw(title: str, data: dict[str, Any], keys: list[tuple[str, str]], out: Console) -> None:
    key_value_table(title, [(label, data.get(key)) for label, key in keys if data.get(key) not in (None, "", [])])(
        out, data
    )


def launched(out: Console, data: dict[str, Any]) -> None:
    _draw(
        f"EC2 training job {data['job_name']} launched",
        data,
        [
            ("instance", "instance_id"),
            ("instance type", "instance_type"),
            ("image", "image_id"),
            ("image name", "image_name"),
            ("code", "code_uri"),
            ("data", "data_uri"),
            ("status object", "status_uri"),
            ("model artifact (when done)", "model_artifact"),
        ],
        out,
    )
    out.print("Follow it with `--wait`, or read the status object when the instance has terminated.")


def finished(out: Console, data: dict[str, Any]) -> None:
    metrics = data.get("metrics") or {}
    if "test_acc" in metrics:
        data = {**data, "metrics.test_acc": f"{metrics['test_acc']:.1%}"}
    if "test_loss" in metrics:
        data = {**data, "metrics.test_loss": f"{metrics['test_loss']:.4f}"}
    _draw(
        f"EC2 training job {data['job_name']}: {data['status']}",
        data,
        [
            ("test accuracy", "metrics.test_acc"),
            ("test loss", "metrics.test_loss"),
            ("instance", "instance_id"),
            ("instance type", "instance_type"),
            ("image", "image_id"),
            ("started", "started_at"),
            ("finished", "finished_at"),
            ("log", "log_uri"),
            ("model artifact", "model_artifact"),
        ],
        out,
    )


def local_run(out: Console, data: dict[str, Any]) -> None:
    _draw(
        f"local EC2-entry-point training {data['job_name']}",
        data,
        [
            ("data", "data_dir"),
            ("model dir", "model_dir"),
            ("model.tar.gz", "model_tar"),
            ("uploaded to", "model_artifact"),
        ],
        out,
    )


def user_data(out: Console, script: str) -> None:
    """The bootstrap as it will run, after the dry-run plan (stderr keeps stdout one JSON document)."""
    out.rule("user data (bootstrap script)")
    out.print(script, markup=False, highlight=False, soft_wrap=True)
