"""The table for `mlops predict-batch`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_cli.render import key_value_table

if TYPE_CHECKING:
    from rich.console import Console


def batch_table(console: Console, data: dict[str, Any]) -> None:
    summary = data["summary"]
    rows: list[tuple[str, Any]] = [
        ("transform job", data["job"]),
        ("status", data["status"] + (f": {data['failure_reason']}" if data["failure_reason"] else "")),
        ("model data", f"{data['model_data']} ({data['artifact_source']})"),
        ("instances", f"{data['instance_count']} x {data['instance_type']}"),
        ("input", data["input"]),
        ("output", data["output"]),
    ]
    if summary is not None:
        rows += [
            ("images", f"{summary['inputs']} in, {summary['outputs']} predictions out, {summary['failed']} failed"),
            ("top labels", ", ".join(f"{item['label']} ({item['count']})" for item in summary["top_labels"]) or "-"),
        ]
    else:
        rows.append(("follow", f"aws sagemaker describe-transform-job --transform-job-name {data['job']}"))
    key_value_table("predict-batch", rows)(console, data)
