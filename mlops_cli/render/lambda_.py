"""`mlops lambda deploy|invoke` and `mlops concurrency set`: result tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_cli.render import key_value_table

if TYPE_CHECKING:
    from rich.console import Console


def deploy_table(console: Console, data: dict[str, Any]) -> None:
    title = "Lambda function deployed" if data["changed"] else "Lambda function unchanged"
    key_value_table(
        title,
        [
            ("function", data["function"]),
            ("alias", f"{data['alias']} -> version {data['version']}"),
            ("endpoint", f"{data['endpoint']} ({data['endpoint_status'] or 'not found'})"),
            ("role", data["role_arn"]),
            ("code sha256", data["code_sha256"]),
            ("changes", "\n".join(data["changes"]) or "none"),
        ],
    )(console, data)


def deploy_summary(data: dict[str, Any]) -> str:
    """The one line said after a deploy."""
    count = len(data["changes"])
    if count:
        return (
            f"deployed {data['function']}: alias {data['alias']} -> version {data['version']} "
            f"({count} change{'s' if count != 1 else ''})"
        )
    return (
        f"unchanged: {data['function']} alias {data['alias']} -> version {data['version']} is already "
        "up to date; nothing was sent"
    )


def predictions_table(console: Console, data: dict[str, Any]) -> None:
    from mlops_cli.render.deploy import ranked_predictions

    ranked_predictions(console, f"{data['function']}:{data['alias']} (version {data['version']})", data["predictions"])


def concurrency_unchanged(data: dict[str, Any]) -> str:
    """`concurrency set` that found nothing to change: what the function already has."""
    from mlops_cli.services.lambda_.concurrency import describe_reserved

    return (
        f"unchanged: {data['function']} already has reserved {describe_reserved(data['reserved'])} and "
        f"provisioned {data['provisioned']['requested'] or 'none'} on alias {data['alias']}; nothing was sent"
    )


def concurrency_table(console: Console, data: dict[str, Any]) -> None:
    from mlops_cli.services.lambda_.concurrency import describe_reserved

    provisioned = data["provisioned"]
    status = provisioned["status"] or "none"
    if provisioned["status_reason"]:
        status += f": {provisioned['status_reason']}"
    account = data["account"]
    title = f"concurrency of {data['function']}" + (
        "" if data.get("changes") is None else (" (changed)" if data["changes"] else " (unchanged)")
    )
    key_value_table(
        title,
        [
            ("reserved", describe_reserved(data["reserved"])),
            (
                "provisioned",
                f"{provisioned['requested']} on alias {data['alias']} (version {data['alias_version']}), "
                f"{provisioned['allocated']} allocated"
                if provisioned["requested"]
                else "none",
            ),
            ("provisioned status", status),
            (
                "account",
                f"limit {account['limit']}, unreserved {account['unreserved']}, "
                f"reservable for this function {account['reservable']}",
            ),
            ("changes", "\n".join(data.get("changes") or []) or "none"),
        ],
    )(console, data)
