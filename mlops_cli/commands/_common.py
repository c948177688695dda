"""Helpers every command uses to reach the invocation state."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

import typer

from mlops_cli.state import AppState


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj


def interrupted_while_waiting(
    app_state: AppState,
    kind: str,
    name: str,
    *,
    stop: Callable[[], None],
    stop_command: str,
    describe_command: str,
    yes: bool,
) -> NoReturn:
    """Ctrl-C while a job runs in AWS: ask (or with --yes decide) whether to stop it; exit 130 either way."""
    from mlops_cli.app import EXIT_INTERRUPTED

    out = app_state.out
    try:
        chosen = yes or (sys.stdin.isatty() and typer.confirm(f"\nstop {kind} {name}?", default=False, err=True))
    except (KeyboardInterrupt, typer.Abort):
        chosen = False
    if not chosen:
        out.warn(f"{kind} {name} is still running in AWS; stop it later with: {stop_command}")
        raise typer.Exit(EXIT_INTERRUPTED)
    stop()
    out.warn(f"stop requested for {kind} {name}; it ends as Stopped (`{describe_command}` shows it)")
    raise typer.Exit(EXIT_INTERRUPTED)
