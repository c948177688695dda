"""Rendering for `mlops train`: the followed job's events on stderr and the final job table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_cli.render import Output, console

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_cli.services.training.job import JobEvent, LaunchResult

HOST_STYLES = ("cyan", "magenta", "green", "blue", "yellow")
TAIL_LINE_CHARS = 300


def _host_style(host: str) -> str:
    digits = "".join(ch for ch in host if ch.isdigit())
    return HOST_STYLES[(int(digits) - 1) % len(HOST_STYLES)] if digits else "white"


def _format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def launched(out: Output, result: LaunchResult, kind: str, details: str, *, wait: bool, stop_command: str) -> None:
    """A launch (`mlops train`, `mlops tune`) said: the source package uploaded or found unchanged, the job
    created, and with --no-wait how to see and stop it."""
    out.info(
        f"source package {result.source_uri} "
        + ("uploaded" if result.source_uploaded else "unchanged, not re-uploaded")
    )
    out.info(f"{kind} {result.job_name} created ({details})")
    if not wait:
        out.info(f"not waiting; `mlops status` shows it, `{stop_command}` stops it")


def event(out: Output, item: JobEvent) -> None:
    """One line on stderr per event: status changes, `[algo-N] log line` (metric lines highlighted); nothing
    when quiet. The distributed runtime's own logging shows with -v only: it stays in the job's log stream, and
    a failed job's log tail shows it."""
    from mlops_cli.common.job_logs import LogLine
    from mlops_cli.services.training.job import JobFinished, MetricValues, StatusChange

    if out.verbosity < 0 or isinstance(item, JobFinished):
        return
    if isinstance(item, LogLine) and item.from_distributed_runtime and out.verbosity < 1:
        return
    err = console(stderr=True)
    if isinstance(item, StatusChange):
        message = f": {item.message}" if item.message else ""
        err.print(f"{item.status} / {item.secondary}{message}", markup=False, style="bold")
    elif isinstance(item, (LogLine, MetricValues)):
        line = item.line if isinstance(item, MetricValues) else item
        err.print(f"[{line.host}] ", style=_host_style(line.host), end="", markup=False)
        # Metric lines stand out: they are what the job is for.
        err.print(
            line.message, markup=False, highlight=False, style="bold green" if isinstance(item, MetricValues) else None
        )


def log_tail(lines: list[str]) -> None:
    """The last log lines of a failed job, on stderr even with --quiet (they are part of the error)."""
    if not lines:
        return
    err = console(stderr=True)
    err.print("last log lines:", markup=False, style="bold")
    for line in lines:
        err.print(
            "  " + (line if len(line) <= TAIL_LINE_CHARS else line[:TAIL_LINE_CHARS] + "…"),
            markup=False,
            highlight=False,
        )


def _billable(description: dict[str, Any]) -> str | None:
    """Billable seconds; for managed spot with the savings, as DescribeTrainingJob defines them:
    (1 - BillableTimeInSeconds / TrainingTimeInSeconds) x 100."""
    billable, training = description.get("BillableTimeInSeconds"), description.get("TrainingTimeInSeconds")
    if billable is None:
        return None
    if description.get("EnableManagedSpotTraining") and training:
        return f"{billable} (managed spot savings {(1 - billable / training) * 100:.0f} %)"
    return str(billable)


def job_table(out: Console, description: dict[str, Any]) -> None:
    from rich.table import Table

    resources = description.get("ResourceConfig", {})
    transitions = description.get("SecondaryStatusTransitions") or []
    interruptions = sum(1 for item in transitions if item.get("Status") == "Interrupted")
    metrics = {item["MetricName"]: item["Value"] for item in description.get("FinalMetricDataList") or []}
    rows: list[tuple[str, Any]] = [
        ("job", description.get("TrainingJobName")),
        ("status", f"{description.get('TrainingJobStatus')} ({description.get('SecondaryStatus', '')})"),
        (
            "instances",
            f"{resources.get('InstanceCount')} x {resources.get('InstanceType')}"
            + (" (spot)" if description.get("EnableManagedSpotTraining") else ""),
        ),
        ("spot interruptions", interruptions or None),
        ("training seconds", description.get("TrainingTimeInSeconds")),
        ("billable seconds", _billable(description)),
        (
            "model artifact",
            (description.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
            if description.get("TrainingJobStatus") == "Completed"
            else None,
        ),
        ("failure reason", description.get("FailureReason")),
    ]
    rows += [(f"metric {name}", _format_value(value)) for name, value in metrics.items()]
    table = Table(title="training job", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        if value is not None:
            table.add_row(key, str(value))
    out.print(table)
