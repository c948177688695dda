"""`mlops train`: placeholder until its issue lands (exits 2 saying so)."""

from __future__ import annotations

from mlops_cli.errors import NotBuiltYet


def train() -> None:
    raise NotBuiltYet("train")
