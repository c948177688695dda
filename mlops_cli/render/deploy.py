"""Tables and progress for `mlops deploy`, `autoscale`, `invoke`, `status` and `teardown`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlops_cli.render import key_value_table

if TYPE_CHECKING:
    from rich.console import Console


def _scaling_text(scaling: dict[str, Any] | None) -> str:
    if not scaling:
        return "off"
    text = f"{scaling['min']}-{scaling['max']} instances"
    if scaling.get("target") is not None:
        text += (
            f", target {scaling['target']:g} invocations/instance/min, cooldowns in "
            f"{scaling['scale_in_cooldown']} s / out {scaling['scale_out_cooldown']} s"
        )
    return text


def deploy_table(console: Console, data: dict[str, Any]) -> None:
    verb = "created" if data["action"] == "create" else "updated (blue/green)"
    rows = [
        ("endpoint", f"{data['endpoint']} ({verb})"),
        ("status", data["status"]),
        ("endpoint config", data["endpoint_config"]),
        ("previous config", data["previous_endpoint_config"]),
        ("model", data["model"]),
        ("model data", f"{data['model_data']} ({data['artifact_source']})"),
        ("image", data["image"]),
        (
            "instances",
            f"serverless: {data['serverless']['MemorySizeInMB']} MB, up to {data['serverless']['MaxConcurrency']} "
            f"concurrent, none while idle (variant {data['variant']})"
            if data.get("serverless")
            else f"{data['instance_count']} x {data['instance_type']} (variant {data['variant']})",
        ),
        ("autoscaling", _scaling_text(data["scaling"]) + (" (applied)" if data["scaling_changed"] else "")),
        (
            "rollout",
            f"{data['rollout']['strategy']}; rollback alarms: {', '.join(data['rollout']['alarms']) or 'none'}"
            if data.get("rollout")
            else None,
        ),
    ]
    key_value_table("deploy", [row for row in rows if row[1] is not None])(console, data)


def autoscale_table(console: Console, data: dict[str, Any]) -> None:
    scaling = data["scaling"]
    rows = [
        ("endpoint", f"{scaling['endpoint']} (variant {scaling['variant']})"),
        ("autoscaling", _scaling_text(scaling if scaling["enabled"] else None)),
        ("changed", "yes" if data["changed"] else "no (already in place)"),
    ]
    key_value_table("autoscale", rows)(console, data)


def invoke_table(console: Console, data: dict[str, Any]) -> None:
    ranked_predictions(console, f"{data['source']} -> {data['endpoint']}", data["predictions"])


def ranked_predictions(console: Console, title: str, predictions: list[dict[str, Any]]) -> None:
    """`invoke` and `lambda invoke`: rank, label and probability, most probable first."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("label")
    table.add_column("probability", justify="right")
    for rank, prediction in enumerate(predictions, start=1):
        table.add_row(str(rank), str(prediction.get("label")), f"{float(prediction.get('probability', 0)):.4f}")
    console.print(table)


def _unreadable(console: Console, section: str) -> None:
    """A section status could not read: said so, never drawn as an empty table ("there are none")."""
    console.print(f"{section}: could not be read (see the error below)", markup=False, style="yellow")


def status_table(console: Console, data: dict[str, Any]) -> None:
    from rich.table import Table

    if data["training_jobs"] is None:
        _unreadable(console, f"training jobs of {data['project']}")
    else:
        jobs = Table(
            title=f"training jobs of {data['project']} (latest {len(data['training_jobs'])})", title_justify="left"
        )
        for column in ("name", "status", "created", "USD/hour"):
            jobs.add_column(column, justify="right" if column == "USD/hour" else "left")
        for job in data["training_jobs"]:
            running = job.get("usd_per_hour")
            jobs.add_row(job["name"], job["status"], _time(job["created"]), "" if running is None else f"{running:.3f}")
        console.print(jobs)

    if data["tuning_jobs"] is None:
        _unreadable(console, "tuning jobs")
    elif data["tuning_jobs"]:
        tuning = Table(title="tuning jobs", title_justify="left")
        for column in ("name", "status", "strategy", "trials", "created"):
            tuning.add_column(column)
        for job in data["tuning_jobs"]:
            trials = ", ".join(f"{count} {state}" for state, count in job["trials"].items() if count) or "none"
            tuning.add_row(job["name"], job["status"], str(job["strategy"]), trials, _time(job["created"]))
        console.print(tuning)

    if data["training_instances"] is None:
        _unreadable(console, "EC2 training instances")
    elif data["training_instances"]:  # train-ec2 instances bill until they terminate themselves
        instances = Table(title="EC2 training instances", title_justify="left")
        for column in ("instance", "job", "state", "type", "launched"):
            instances.add_column(column, no_wrap=column == "instance")  # the id is what the user acts on
        for instance in data["training_instances"]:
            instances.add_row(
                instance["instance_id"],
                str(instance["job"]),
                instance["state"],
                str(instance["instance_type"]),
                _time(instance["launched"]),
            )
        console.print(instances)

    if data["endpoints"] is None:
        _unreadable(console, "endpoints (and their cost)")
    else:
        endpoints = Table(title="endpoints", title_justify="left")
        for column in ("name", "status", "instances", "autoscaling", "USD/hour"):
            endpoints.add_column(column, justify="right" if column == "USD/hour" else "left")
        for endpoint in data["endpoints"]:
            sizes = ", ".join(
                f"serverless {v['serverless']['memory_mb']} MB (up to {v['serverless']['max_concurrency']})"
                if v.get("serverless")
                else f"{v['instance_count']} x {v['instance_type'] or '?'}"
                for v in endpoint["variants"]
            )
            scaling = ", ".join(
                f"{v['scaling']['min']}-{v['scaling']['max']}" if v["scaling"] else "off" for v in endpoint["variants"]
            )
            cost = "n/a" if endpoint["usd_per_hour"] is None else f"{endpoint['usd_per_hour']:.3f}"
            per_request = [
                v["serverless"]["usd_per_1000_requests"] for v in endpoint["variants"] if v.get("serverless")
            ]
            if per_request and per_request[0] is not None:
                cost = f"0 idle, {per_request[0]:.4f}/1k requests"
            status = endpoint["status"] + (f" ({endpoint['failure_reason']})" if endpoint["failure_reason"] else "")
            pending = endpoint.get("pending_deployment")
            if pending:
                status += f": {pending['endpoint_config']} {pending['message'] or pending['status'] or ''}".rstrip()
            endpoints.add_row(endpoint["name"], status, sizes, scaling, cost)
        console.print(endpoints)
        console.print(
            f"endpoints cost about {data['endpoints_usd_per_hour']:.3f} USD/hour ({data['prices']}"
            + (f"; no price known for {', '.join(data['unpriced_endpoints'])}" if data["unpriced_endpoints"] else "")
            + ")",
            markup=False,
        )

    if data["functions"] is None:
        _unreadable(console, "Lambda functions")
    else:
        functions = Table(title="Lambda functions", title_justify="left")
        for column in ("name", "runtime", "memory MB", "state", "provisioned", "USD/hour"):
            functions.add_column(column, justify="right" if column == "USD/hour" else "left")
        for function in data["functions"]:
            running = function.get("usd_per_hour")
            functions.add_row(
                function["name"],
                str(function["runtime"]),
                str(function["memory_mb"]),
                str(function["state"]),
                str(function.get("provisioned", 0)),
                "" if running is None else f"{running:.4f}",
            )
        console.print(functions)


def inventory_table(title: str) -> Callable[[Console, Any], None]:
    def draw(console: Console, inventory: dict[str, list[str]]) -> None:
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        table.add_column("kind")
        table.add_column("name")
        for kind, names in inventory.items():
            for name in names:
                table.add_row(kind.replace("_", " ").rstrip("s"), name)
        console.print(table)

    return draw


def teardown_table(console: Console, data: dict[str, Any]) -> None:
    from rich.table import Table

    if not data["steps"]:
        console.print("nothing to delete", markup=False)
        return
    table = Table(title="teardown", title_justify="left")
    for column in ("operation", "resource", "outcome"):
        table.add_column(column)
    for row in data["steps"]:
        table.add_row(row["operation"], row["resource"], row["outcome"])
    console.print(table)


def _time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value or "")
