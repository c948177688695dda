"""`mlops config show|validate|permissions`."""

from __future__ import annotations

from typing import Any

import typer

from mlops_cli.commands._common import state

app = typer.Typer(no_args_is_help=True)


def _flat(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows.extend(_flat(value, f"{prefix}{key}."))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


FILES_KEY = "config_files"  # in `show -o json`: the files read, beside the config's own sections


@app.command(
    "show",
    help="Print the effective config (all layers applied) and the files it was read from; --output json for tools.",
)
def show(ctx: typer.Context) -> None:
    from mlops_cli.render import key_value_table

    app_state = state(ctx)
    data = app_state.config_values
    files = app_state.files_read
    rows = [("config files", ", ".join(files) or "(none: built-in defaults)"), *_flat(data)]
    app_state.out.result({**data, FILES_KEY: files}, key_value_table("effective config", rows))


@app.command("validate", help="Check the config; exit 2 with the file, key and problem if it is wrong.")
def validate(ctx: typer.Context) -> None:
    app_state = state(ctx)
    project = app_state.config_values["project"]
    files = app_state.files_read or ["(built-in defaults)"]
    app_state.out.info(f"config OK: {', '.join(files)} (project {project})")
    if app_state.out.json:
        app_state.out.result({"valid": True, "files": app_state.files_read, "project": project})


@app.command(
    "permissions",
    help="The least-privilege IAM policy that running COMMANDs needs (default: every command), e.g. "
    "`mlops config permissions train deploy lambda deploy`; -o json prints the policy document alone.",
)
def permissions(
    ctx: typer.Context,
    commands: list[str] | None = typer.Argument(None, metavar="COMMAND", show_default=False),
    account: str | None = typer.Option(
        None, "--account", metavar="ID", help="The AWS account the ARNs name (default: the caller's, from STS)."
    ),
) -> None:
    from mlops_cli.render.permissions import policy_table
    from mlops_cli.usecases.permissions import permissions_policy

    app_state = state(ctx)
    document = permissions_policy(app_state.config, app_state.clients, commands or [], account, reuse=True)
    app_state.out.result(document, policy_table)
