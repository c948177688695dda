"""`mlops status`: the project's training jobs, endpoints (with cost per hour) and Lambda functions."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import state


def status(ctx: typer.Context) -> None:
    from mlops_cli.render.deploy import status_table
    from mlops_cli.usecases.status import check_complete, project_status

    app_state = state(ctx)
    found = project_status(app_state.config, app_state.clients)
    app_state.out.result(found, status_table)
    check_complete(found)
