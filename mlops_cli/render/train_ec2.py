"""Tables for `mlops train-ec2`: the launched instance, the finished job, a --local run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlops_cli.render import key_value_table

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_cli.render import Output

FAILURE_TAIL_LINES = 10


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
    """The bootstrap as it will run, with the dry-run plan (stderr keeps stdout one JSON document)."""
    out.rule("user data (bootstrap script)")
    out.print(script, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def following(out: Output, job_name: str, instance_id: str) -> Iterator[Callable[[str], None]]:
    """While the job runs: a spinner with the instance's state, and a line each time it changes."""
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    with out.progress(columns=(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())) as progress:
        task = progress.add_task(f"{job_name}: launching", total=None)

        def on_state(state_name: str) -> None:
            out.info(f"instance {instance_id}: {state_name}")
            progress.update(task, description=f"{job_name}: instance {instance_id} {state_name}")

        yield on_state


def failed(out: Output, result: dict[str, Any]) -> None:
    """A job that did not complete: the end of its log on stderr (and with -o json its document)."""
    for line in result.get("log_tail", [])[-FAILURE_TAIL_LINES:]:
        out.info(f"  | {line}")
    if out.json:
        out.result(result)
