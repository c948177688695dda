"""`mlops concurrency set`: reserved concurrency on the function, provisioned concurrency on its alias."""

from __future__ import annotations

from typing import Any

import typer

from mlops_cli.commands._common import state
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
    current = service.read_state(lam, config.function_name, config.lambda_.alias)
    if show:
        out.result(current.to_dict(), concurrency_table)
        return
    plan = service.plan_clear(current) if clear else service.plan_set(current, reserved, provisioned)
    if not clear:
        from mlops_cli.services import cost

        plan.cost = cost.provisioned_cost(cost.shipped_prices(), config.lambda_.memory_mb, provisioned or 0)
    if app_state.dry_run:
        out.plan(plan)
        return

    reported: list[tuple[Any, ...]] = []

    def report(status: dict[str, Any]) -> None:
        seen = (status["Status"], status.get("AllocatedProvisionedConcurrentExecutions"))
        if reported and reported[-1] == seen:
            return
        reported.append(seen)
        out.info(
            f"provisioned concurrency on {config.function_name}:{config.lambda_.alias}: {status['Status']} "
            f"({status.get('AllocatedProvisionedConcurrentExecutions', 0)}/"
            f"{status['RequestedProvisionedConcurrentExecutions']} allocated)"
        )

    try:
        after = service.run_plan(plan, lam, current, on_status=report, wait=wait)
    except KeyboardInterrupt:
        out.error(
            "interrupted: AWS goes on allocating the provisioned concurrency; check it with "
            "`mlops concurrency set --show`, remove it with `mlops concurrency set --clear`"
        )
        raise typer.Exit(130) from None
    changes = service.describe_changes(plan)
    if not changes:
        out.info(
            f"unchanged: {config.function_name} already has reserved {after.reserved or 'none'} and "
            f"provisioned {after.provisioned_requested or 'none'} on alias {after.alias}; nothing was sent"
        )
    out.result({**after.to_dict(), "changes": changes}, concurrency_table)
