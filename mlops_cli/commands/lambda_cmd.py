"""`mlops lambda deploy|invoke`: the Lambda function in front of the endpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands._common import run, state

app = typer.Typer(no_args_is_help=True)


@app.command("deploy", help="Deploy the Lambda function with a least-privilege role (idempotent).")
def deploy(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(
        None, "--endpoint", metavar="NAME", help="Endpoint to call (default: the project's)."
    ),
    name: str | None = typer.Option(
        None, "--name", metavar="NAME", help="Function name (default: lambda.function_name)."
    ),
    memory: int | None = typer.Option(None, "--memory", metavar="MB", min=128, max=10240, help="Memory in MB."),
    timeout: int | None = typer.Option(
        None, "--timeout", metavar="SECONDS", min=1, max=900, help="Timeout in seconds."
    ),
    alias: str | None = typer.Option(
        None, "--alias", metavar="NAME", help="Alias to point at the new version (default: live)."
    ),
) -> None:
    from mlops_cli.render.lambda_ import deploy_summary, deploy_table
    from mlops_cli.usecases.lambda_ import planned_lambda_deploy

    app_state = state(ctx)
    app_state.override(
        {
            "deploy.endpoint_name": endpoint,
            "lambda.function_name": name,
            "lambda.memory_mb": memory,
            "lambda.timeout_s": timeout,
            "lambda.alias": alias,
        },
        flags={"deploy.endpoint_name": "--endpoint", "lambda.function_name": "--name"},
    )
    result = run(app_state, planned_lambda_deploy(app_state.config, app_state.clients)).to_dict()
    app_state.out.info(deploy_summary(result))
    app_state.out.result(result, deploy_table)


@app.command("invoke", help="Invoke the Lambda function with an image file or a URL and print the predictions.")
def invoke(
    ctx: typer.Context,
    image: Path | None = typer.Argument(None, metavar="IMAGE", help="Image file (JPEG, PNG, ...).", dir_okay=False),
    url: str | None = typer.Option(
        None, "--url", metavar="URL", help="http(s) URL of an image, fetched by the endpoint."
    ),
    alias: str | None = typer.Option(None, "--alias", metavar="NAME", help="Alias to invoke (default: lambda.alias)."),
    name: str | None = typer.Option(
        None, "--name", metavar="NAME", help="Function name (default: lambda.function_name)."
    ),
    top_k: int | None = typer.Option(None, "--top-k", metavar="K", min=1, max=100, help="How many labels to return."),
) -> None:
    from mlops_cli.render.lambda_ import predictions_table
    from mlops_cli.usecases.lambda_ import planned_lambda_invoke

    app_state = state(ctx)
    app_state.override({"lambda.function_name": name, "lambda.alias": alias}, flags={"lambda.function_name": "--name"})
    result = run(app_state, planned_lambda_invoke(app_state.config, image, url, top_k))
    app_state.out.result(result, predictions_table)
