"""Helpers every command uses to reach the invocation state."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from mlops_cli.errors import Interrupted
from mlops_cli.state import AppState

if TYPE_CHECKING:
    from mlops_cli.plan.planned import Planned


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def run(app_state: AppState, planned: Planned) -> Any:
    """The one way a command runs its plan: `--dry-run` shows it (and the command ends there, exit 0); otherwise
    the executor sends it and the use case's result is returned. Ctrl-C meanwhile: exit 130 with what goes on."""
    from mlops_cli.plan import Executor
    from mlops_cli.render.plan import progress, show

    out = app_state.out
    for warning in planned.warnings:
        out.warn(warning)
    if app_state.dry_run:
        planned.plan.assumed_empty = planned.reads_aws and app_state.clients.offline
        show(out, planned.plan)  # --dry-run: for people (table mode) or the exact requests (JSON)
        raise typer.Exit(0)
    for notice in planned.notices:
        out.warn(notice)
    for line in planned.announce:
        out.info(line)
    try:
        with progress(out) as on_event:
            answers = planned.execute(Executor(app_state.clients.client, on_event=on_event))
        return planned.finish(answers)
    except KeyboardInterrupt:
        message, hint = planned.interrupted or ("interrupted", None)
        raise Interrupted(message, hint=hint) from None


def stop_question(yes: bool) -> Callable[[str, str], bool]:
    """What Ctrl-C asks while a job runs in AWS: stop <kind> <name>? --yes answers yes; no terminal answers no."""

    def ask(kind: str, name: str) -> bool:
        try:
            return yes or (sys.stdin.isatty() and typer.confirm(f"\nstop {kind} {name}?", default=False, err=True))
        except (KeyboardInterrupt, typer.Abort):
            return False

    return ask
