"""`mlops autoscale`: target-tracking scaling of the endpoint's variant on invocations per instance."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import typer

from mlops_cli.commands._common import run, state
from mlops_cli.errors import UsageError


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
    from mlops_cli.plan.planned import Planned
    from mlops_cli.render.deploy import autoscale_table
    from mlops_cli.services import autoscaling, naming

    given: dict[str, Any] = {
        key: value
        for key, value in (
            ("min", min_),
            ("max", max_),
            ("target", target),
            ("scale_in_cooldown", scale_in_cooldown),
            ("scale_out_cooldown", scale_out_cooldown),
        )
        if value is not None
    }
    if off and show:
        raise UsageError("give --off or --show, not both")
    if (off or show) and given:
        flags = ", ".join(f"--{key.replace('_', '-')}" for key in given)
        raise UsageError(f"{flags} cannot be combined with {'--off' if off else '--show'}")
    app_state = state(ctx)
    app_state.override({"deploy.endpoint_name": endpoint}, flags={"deploy.endpoint_name": "--endpoint"})
    config = app_state.config
    out = app_state.out
    desired = None
    if not (off or show):
        desired = autoscaling.validate(replace(autoscaling.ScalingSettings.from_config(config.autoscale), **given))

    name, variant = config.endpoint_name, config.deploy.variant_name
    clients = app_state.clients
    aas = clients.client(autoscaling.SERVICE)
    if not off and not clients.offline:  # offline: the endpoint as `mlops deploy` creates it
        autoscaling.check_variant(clients.client("sagemaker"), name, variant, need_in_service=desired is not None)
    current = autoscaling.read_state(aas, name, variant)
    if show:
        out.result({"scaling": current.to_dict(), "changed": False, "requests": []}, autoscale_table)
        return
    plan = autoscaling.plan_autoscale(current, desired, naming.tag_map(config, endpoint=name))
    after = run(app_state, Planned(plan, finish=lambda _answers: autoscaling.read_state(aas, name, variant)))
    if not plan.steps:
        out.info(
            f"no autoscaling on {current.resource_id}; nothing changed"
            if off
            else f"autoscaling of {current.resource_id} is already as requested; nothing changed"
        )
    out.result(
        {"scaling": after.to_dict(), "changed": bool(plan.steps), "requests": [step.operation for step in plan.steps]},
        autoscale_table,
    )
