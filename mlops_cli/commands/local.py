"""`mlops local up|down|env|status|reset`: the embedded local AWS."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from mlops_cli.commands._common import state
from mlops_cli.errors import UsageError
from mlops_cli.render import key_value_table

app = typer.Typer(no_args_is_help=True)


def _render(ctx: typer.Context, server: object, message: str) -> None:
    out = state(ctx).out
    data = server.to_dict()  # type: ignore[attr-defined]
    out.info(message)
    out.result(data, key_value_table("local AWS", list(data.items())))


def _url(ctx: typer.Context) -> str | None:
    return state(ctx).config.aws.endpoint_url


def _home(ctx: typer.Context) -> Path:
    return state(ctx).home


@app.command("up", help="Start the local AWS in the background (no-op if it already runs).")
def up(ctx: typer.Context) -> None:
    from mlops_cli.local.core import manager

    local = state(ctx).config.local
    server, started = manager.up(_url(ctx), local.time_scale, local.faults, home=_home(ctx))
    _render(ctx, server, f"local AWS {'started' if started else 'already running'} on {server.url}")


@app.command("down", help="Stop the local AWS and everything it runs (jobs, model servers).")
def down(ctx: typer.Context) -> None:
    from mlops_cli.local.core import manager

    server, stopped = manager.down(_url(ctx), _home(ctx))
    _render(ctx, server, f"local AWS {'stopped' if stopped else 'was not running'} on {server.url}")


@app.command("env", help='Print the shell lines that point any AWS tool at the local AWS: eval "$(mlops local env)".')
def env(
    ctx: typer.Context,
    user: str | None = typer.Option(
        None, "--user", metavar="NAME", help="Act as this local IAM user (made, with an access key, when missing)."
    ),
    role: str | None = typer.Option(
        None, "--role", metavar="ROLE_ARN", help="Act as a new session of this role (ARN)."
    ),
) -> None:
    from mlops_cli.local.core import manager
    from mlops_cli.local.iam import identities
    from mlops_cli.render import shell_exports

    app_state = state(ctx)
    if user and role:
        raise UsageError("--user and --role: pick one identity to act as")
    variables = manager.shell_env(_url(ctx), app_state.config.aws.region, _home(ctx))
    if user:
        variables = identities.user_env(variables, user)
    elif role:
        variables = identities.role_env(variables, role)
    if not manager.status(_url(ctx), _home(ctx)).running:
        app_state.out.warn(f"the local AWS on {variables['AWS_ENDPOINT_URL']} is not running (`mlops local up`)")
    app_state.out.result(variables, shell_exports)


@app.command("status", help="Is the local AWS running? Exit 1 if not.")
def status(ctx: typer.Context) -> None:
    from mlops_cli.local.core import manager

    server = manager.status(_url(ctx), _home(ctx))
    _render(ctx, server, f"local AWS {'running' if server.running else 'not running'} on {server.url}")
    if not server.running:
        raise typer.Exit(1)


@app.command(
    "reset",
    help="Delete everything the stopped local AWS keeps (buckets, jobs, endpoints, functions, "
    "IAM...). Asks first unless --yes.",
)
def reset(
    ctx: typer.Context, yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
) -> None:
    from mlops_cli.local.core import manager

    url = _url(ctx)
    if not (yes or sys.stdin.isatty()):
        raise UsageError(
            "reset deletes the local AWS's state and cannot ask here (stdin is not a terminal); pass --yes to confirm"
        )
    if not yes:
        server = manager.status(url, _home(ctx))
        if not typer.confirm(
            f"Delete everything the local AWS on {server.url} keeps ({server.state_dir})?", default=False, err=True
        ):
            state(ctx).out.info("nothing deleted")
            raise typer.Exit(1)
    server, deleted = manager.reset(url, _home(ctx))
    _render(ctx, server, f"local AWS state {'deleted' if deleted else 'was empty'}: {server.state_dir}")
