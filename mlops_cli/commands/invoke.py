"""`mlops invoke`: send one image (file or http(s) URL) to the endpoint and print the predictions."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import run, state


def invoke(
    ctx: typer.Context,
    source: str = typer.Argument(..., metavar="IMAGE_PATH|URL", help="An image file, or a URL the endpoint fetches."),
    endpoint: str | None = typer.Option(None, "--endpoint", metavar="NAME", help="Default: the project's endpoint."),
    top_k: int = typer.Option(5, "--top-k", metavar="K", help="How many labels to show (1-100)."),
) -> None:
    from mlops_cli.render.deploy import invoke_table
    from mlops_cli.usecases.invoke import planned_invoke

    app_state = state(ctx)
    app_state.override({"deploy.endpoint_name": endpoint}, flags={"deploy.endpoint_name": "--endpoint"})
    result = run(app_state, planned_invoke(app_state.config, source, top_k))
    app_state.out.result(result, invoke_table)
