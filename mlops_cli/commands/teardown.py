"""`mlops teardown`: placeholder until its issue lands (exits 2 saying so)."""

from __future__ import annotations

from mlops_cli.errors import NotBuiltYet


def teardown() -> None:
    raise NotBuiltYet("teardown")
