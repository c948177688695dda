"""`mlops autoscale`: target-tracking scaling of the endpoint's variant on invocations per instance."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import run, state


def autoscale(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(None, "--endpoint", metavar="NAME", help="Default: the project's endpoint."),
    min_: int | None = typer.Option(None, "--min", metavar="N", help="Fewest instances (default: autoscale.min)."),
    max_: int | None = typer.Option(None, "--max", metavar="N", help="Most instances (default: autoscale.max)."),
    target: float | None = typer.Option(
        None,
        "--target",
        metavar="N",
        help="Invocations per instance per minute to keep (default: autoscale.target_invocations).",
    ),
    scale_in_cooldown: int | None = typer.Option(None, "--scale-in-cooldown", metavar="SECONDS"),
    scale_out_cooldown: int | None = typer.Option(None, "--scale-out-cooldown", metavar="SECONDS"),
    off: bool = typer.Option(False, "--off", help="Remove the scaling policy and the scalable target."),
    show: bool = typer.Option(False, "--show", help="Show the scaling in place; change nothing."),
) -> None:
    from mlops_cli.render.deploy import autoscale_table
    from mlops_cli.usecases.autoscale import ScalingRequest, check_flags, current_scaling, planned_autoscale

    request = ScalingRequest(min_, max_, target, scale_in_cooldown, scale_out_cooldown, off)
    check_flags(request, show)
    app_state = state(ctx)
    app_state.override({"deploy.endpoint_name": endpoint}, flags={"deploy.endpoint_name": "--endpoint"})
    config, out = app_state.config, app_state.out
    if show:
        current = current_scaling(config, app_state.clients)
        out.result({"scaling": current.to_dict(), "changed": False, "requests": []}, autoscale_table)
        return
    result = run(app_state, planned_autoscale(config, app_state.clients, request))
    if not result["changed"]:
        resource = result["scaling"]["resource_id"]
        out.info(
            f"no autoscaling on {resource}; nothing changed"
            if off
            else f"autoscaling of {resource} is already as requested; nothing changed"
        )
    out.result(result, autoscale_table)
