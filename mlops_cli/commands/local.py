"""`mlops local up|down|env|status`: the embedded local AWS."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import state
from mlops_cli.render import key_value_table

app = typer.Typer(no_args_is_help=True)


def _render(ctx: typer.Context, server: object, message: str) -> None:
    out = state(ctx).out
    data = server.to_dict()  # type: ignore[attr-defined]
    out.info(message)
    out.result(data, key_value_table("local AWS", list(data.items())))


def _url(ctx: typer.Context) -> str | None:
    return state(ctx).config.aws.endpoint_url


@app.command("up", help="Start the local AWS in the background (no-op if it already runs).")
def up(ctx: typer.Context) -> None:
    from mlops_cli.local import manager

    server, started = manager.up(_url(ctx), state(ctx).config.local.time_scale)
    _render(ctx, server, f"local AWS {'started' if started else 'already running'} on {server.url}")


@app.command("down", help="Stop the local AWS and everything it runs (jobs, model servers).")
def down(ctx: typer.Context) -> None:
    from mlops_cli.local import manager

    server, stopped = manager.down(_url(ctx))
    _render(ctx, server, f"local AWS {'stopped' if stopped else 'was not running'} on {server.url}")


@app.command("env", help='Print the shell lines that point any AWS tool at the local AWS: eval "$(mlops local env)".')
def env(ctx: typer.Context) -> None:
    from mlops_cli.local import manager
    from mlops_cli.render import shell_exports

    app_state = state(ctx)
    variables = manager.shell_env(_url(ctx), app_state.config.aws.region)
    if not manager.status(_url(ctx)).running:
        app_state.out.warn(f"the local AWS on {variables['AWS_ENDPOINT_URL']} is not running (`mlops local up`)")
    app_state.out.result(variables, shell_exports)


@app.command("status", help="Is the local AWS running? Exit 1 if not.")
def status(ctx: typer.Context) -> None:
    from mlops_cli.local import manager

    server = manager.status(_url(ctx))
    _render(ctx, server, f"local AWS {'running' if server.running else 'not running'} on {server.url}")
    if not server.running:
        raise typer.Exit(1)
