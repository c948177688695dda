"""`mlops concurrency set`: reserved concurrency on the function, provisioned concurrency on its alias."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import run, state
from mlops_cli.errors import UsageError

app = typer.Typer(no_args_is_help=True)


@app.command("set", help="Set reserved (function) and provisioned (alias) concurrency; 0 = none.")
def set_concurrency(
    ctx: typer.Context,
    function: str | None = typer.Option(None, "--function", help="Function name (default: lambda.function_name)."),
    reserved: int | None = typer.Option(None, "--reserved", help="Reserved concurrency (default: config)."),
    provisioned: int | None = typer.Option(
        None, "--provisioned", help="Provisioned concurrency on the alias (default: config)."
    ),
    alias: str | None = typer.Option(None, "--alias", help="Alias for provisioned concurrency (default: live)."),
    clear: bool = typer.Option(False, "--clear", help="Remove the reservation and the provisioned concurrency."),
    show: bool = typer.Option(False, "--show", help="Only show the current settings."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until provisioned concurrency is READY."),
) -> None:
    from mlops_cli.render.lambda_ import concurrency_table
    from mlops_cli.services import concurrency as service

    if clear and show:
        raise UsageError("--clear and --show cannot be combined")
    if (clear or show) and (reserved is not None or provisioned is not None):
        raise UsageError(f"--{'clear' if clear else 'show'} takes no --reserved/--provisioned")
    app_state = state(ctx)
    app_state.override(
        {"lambda.function_name": function, "lambda.alias": alias}, flags={"lambda.function_name": "--function"}
    )
    config, out = app_state.config, app_state.out
    reserved = config.lambda_.reserved_concurrency if reserved is None else reserved
    provisioned = config.lambda_.provisioned_concurrency if provisioned is None else provisioned
    if not (clear or show):
        service.check_values(reserved, provisioned)
    lam = app_state.clients.client("lambda")
    current = (
        service.fresh_state(config.function_name, config.lambda_.alias)
        if app_state.clients.offline
        else service.read_state(lam, config.function_name, config.lambda_.alias)
    )
    if show:
        out.result(current.to_dict(), concurrency_table)
        return
    plan = service.plan_clear(current) if clear else service.plan_set(current, reserved, provisioned, wait)
    if not clear:
        from mlops_cli.services import cost

        plan.cost = cost.provisioned_cost(cost.shipped_prices(), config.lambda_.memory_mb, provisioned or 0)
    result = run(app_state, service.planned_set(lam, plan, current))
    if not result["changes"]:
        out.info(
            f"unchanged: {config.function_name} already has reserved {result['reserved'] or 'none'} and "
            f"provisioned {result['provisioned']['requested'] or 'none'} on alias {result['alias']}; nothing was sent"
        )
    out.result(result, concurrency_table)
