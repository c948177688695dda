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
    from mlops_cli.render import console
    from mlops_cli.render.deploy import inventory_table, teardown_table
    from mlops_cli.usecases.teardown import TeardownRequest, check_flags, planned_teardown

    request = TeardownRequest(endpoint, everything, functions)
    check_flags(request)
    app_state = state(ctx)
    if not (yes or app_state.dry_run or sys.stdin.isatty()):
        raise UsageError(
            "teardown deletes resources and cannot ask here (stdin is not a terminal); pass --yes to confirm"
        )
    out = app_state.out
    inventory, planned = planned_teardown(app_state.config, app_state.clients, request)
    if not (app_state.dry_run or inventory.empty or yes):  # a dry run asks nothing
        inventory_table("to delete")(console(stderr=True), inventory.to_dict())
        if not typer.confirm("Delete all of these?", default=False, err=True):
            out.info("nothing deleted")
            raise typer.Exit(1)
    steps = run(app_state, planned)
    if not steps:
        out.info("nothing to delete")
    out.result({"steps": steps, "deleted": inventory.to_dict()}, teardown_table)
