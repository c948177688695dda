"""`mlops status`: the project's training jobs, endpoints (with cost per hour) and Lambda functions."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import state


def status(ctx: typer.Context) -> None:
    from mlops_cli.errors import OperationError
    from mlops_cli.render.deploy import status_table
    from mlops_cli.services.status import gather, incomplete

    app_state = state(ctx)
    found = gather(app_state.clients.client, app_state.config)
    app_state.out.result(found, status_table)
    problem = incomplete(found)
    if problem:
        raise OperationError(problem)
