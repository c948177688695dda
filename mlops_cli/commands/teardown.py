"""`mlops teardown`: delete endpoints with their configurations, models and scaling; `--all` also stops the
project's running training; `--lambda` deletes its Lambda functions and their role."""

from __future__ import annotations

import sys

import typer

from mlops_cli.commands._common import run, state
from mlops_cli.errors import UsageError


def teardown(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(
        None, "--endpoint", metavar="NAME", help="This endpoint (default: the project's endpoint)."
    ),
    everything: bool = typer.Option(
        False,
        "--all",
        help="Every endpoint, configuration, model and scaling target "
        "of the project; stop its running training jobs and "
        "train-ec2 instances.",
    ),
    functions: bool = typer.Option(
        False, "--lambda", help="Also delete the project's Lambda functions and their role."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    from mlops_cli.plan.planned import Planned
    from mlops_cli.render import console
    from mlops_cli.render.deploy import inventory_table, teardown_table
    from mlops_cli.services import teardown as service

    if endpoint and everything:
        raise UsageError("give --endpoint NAME or --all, not both")
    if endpoint:
        _check_endpoint_name(endpoint)
    app_state = state(ctx)
    if not (yes or app_state.dry_run or sys.stdin.isatty()):
        raise UsageError(
            "teardown deletes resources and cannot ask here (stdin is not a terminal); pass --yes to confirm"
        )
    config = app_state.config
    out = app_state.out
    inventory = service.find(app_state.clients.client, config, endpoint, everything, functions)
    plan = service.plan_teardown(inventory)
    if not (app_state.dry_run or inventory.empty or yes):  # a dry run asks nothing
        inventory_table("to delete")(console(stderr=True), inventory.to_dict())
        if not typer.confirm("Delete all of these?", default=False, err=True):
            out.info("nothing deleted")
            raise typer.Exit(1)
    steps = run(app_state, Planned(plan, finish=lambda answers: service.outcomes(plan, answers)))
    if not steps:
        out.info("nothing to delete")
    out.result({"steps": steps, "deleted": inventory.to_dict()}, teardown_table)


def _check_endpoint_name(name: str) -> None:
    """SageMaker's EndpointName rule, before any request (not via the config: the project's own endpoint name
    must stay what the ownership check compares with)."""
    import re

    from mlops_cli.config.schema import NAME_PATTERN, PATTERN_MEANINGS

    if len(name) > 63 or not re.fullmatch(NAME_PATTERN, name):
        raise UsageError(f"--endpoint '{name}': expected at most 63 {PATTERN_MEANINGS[NAME_PATTERN]}")
