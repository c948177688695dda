"""`mlops concurrency set`: reserved concurrency on the function, provisioned concurrency on its alias."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import run, state

app = typer.Typer(no_args_is_help=True)


@app.command(
    "set",
    help="Set reserved (function) and provisioned (alias) concurrency. --reserved 0 throttles every invocation, "
    "as on AWS; --unreserved removes the reservation.",
)
def set_concurrency(
    ctx: typer.Context,
    function: str | None = typer.Option(
        None, "--function", metavar="NAME", help="Function name (default: lambda.function_name)."
    ),
    reserved: int | None = typer.Option(
        None, "--reserved", metavar="N", help="Reserved concurrency (default: config); 0 throttles every invocation."
    ),
    unreserved: bool = typer.Option(
        False, "--unreserved", help="Remove the reservation: the function uses the account's unreserved pool."
    ),
    provisioned: int | None = typer.Option(
        None, "--provisioned", metavar="N", help="Provisioned concurrency on the alias (default: config)."
    ),
    alias: str | None = typer.Option(
        None, "--alias", metavar="NAME", help="Alias for provisioned concurrency (default: live)."
    ),
    clear: bool = typer.Option(False, "--clear", help="Remove the reservation and the provisioned concurrency."),
    show: bool = typer.Option(False, "--show", help="Only show the current settings."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until provisioned concurrency is READY."),
    max_cost: float | None = typer.Option(
        None, "--max-cost", metavar="USD", help="Refuse when the provisioned concurrency costs more a month."
    ),
) -> None:
    from mlops_cli.render.lambda_ import concurrency_table, concurrency_unchanged
    from mlops_cli.usecases.concurrency import ConcurrencyRequest, check_flags, current_state, planned_concurrency

    check_flags(reserved, provisioned, clear, show, unreserved)
    app_state = state(ctx)
    app_state.override(
        {"lambda.function_name": function, "lambda.alias": alias}, flags={"lambda.function_name": "--function"}
    )
    config, out = app_state.config, app_state.out
    if show:
        out.result(current_state(config, app_state.clients).to_dict(), concurrency_table)
        return
    request = ConcurrencyRequest(reserved, provisioned, clear, wait, unreserved, max_cost)
    result = run(app_state, planned_concurrency(config, app_state.clients, request))
    if not result["changes"]:
        out.info(concurrency_unchanged(result))
    out.result(result, concurrency_table)
