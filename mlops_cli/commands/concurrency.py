"""`mlops concurrency set`: placeholder until its issue lands (exits 2 saying so)."""

from __future__ import annotations

import typer

from mlops_cli.errors import NotBuiltYet

app = typer.Typer(no_args_is_help=True)


@app.command("set", help="Set reserved (function) and provisioned (alias) concurrency.")
def set_concurrency() -> None:
    raise NotBuiltYet("concurrency set")
