"""`mlops init --local`: make the current folder an mlops project on the embedded local AWS."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands._common import state
from mlops_cli.errors import UsageError


def init(
    ctx: typer.Context,
    local: bool = typer.Option(False, "--local", help="For the embedded local AWS (no account, no Docker)."),
    port: int = typer.Option(
        4599, "--port", metavar="PORT", help="The local AWS's loopback port (one per project running at once)."
    ),
    force: bool = typer.Option(False, "--force", help="Rewrite an mlops.yaml that `mlops init` wrote before."),
) -> None:
    from mlops_cli.render import key_value_table
    from mlops_cli.usecases.init import init_local_project

    if not local:
        raise UsageError(
            "say where the project runs: `mlops init --local` for the embedded local AWS",
            hint="for real AWS, copy configs/default.yaml to mlops.yaml and set your bucket and role",
        )
    out = state(ctx).out
    data = init_local_project(Path.cwd(), port, force)
    out.info(f"wrote {data['config_file']}: commands run here (and below) use the local AWS; next: `mlops local up`")
    out.result(data, key_value_table("project", list(data.items())))
