"""Helpers every command uses to reach the invocation state."""

from __future__ import annotations

import typer

from mlops_cli.state import AppState


def state(ctx: typer.Context) -> AppState:
    root = ctx.find_root()
    if not isinstance(root.obj, AppState):
        root.obj = AppState()
    return root.obj
