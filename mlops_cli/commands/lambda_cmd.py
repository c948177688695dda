"""`mlops lambda deploy|invoke`: placeholders until their issue lands (exit 2 saying so)."""

from __future__ import annotations

import typer

from mlops_cli.errors import NotBuiltYet

app = typer.Typer(no_args_is_help=True)


@app.command("deploy", help="Deploy the Lambda function with a least-privilege role.")
def deploy() -> None:
    raise NotBuiltYet("lambda deploy")


@app.command("invoke", help="Invoke the Lambda function with an image or URL.")
def invoke() -> None:
    raise NotBuiltYet("lambda invoke")
