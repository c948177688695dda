"""`mlops lambda deploy|invoke`: the Lambda function in front of the endpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands._common import state

app = typer.Typer(no_args_is_help=True)


@app.command("deploy", help="Deploy the Lambda function with a least-privilege role (idempotent).")
def deploy(
    ctx: typer.Context,
    endpoint: str | None = typer.Option(None, "--endpoint", help="Endpoint to call (default: the project's)."),
    name: str | None = typer.Option(None, "--name", help="Function name (default: lambda.function_name)."),
    memory: int | None = typer.Option(None, "--memory", min=128, max=10240, help="Memory in MB."),
    timeout: int | None = typer.Option(None, "--timeout", min=1, max=900, help="Timeout in seconds."),
    alias: str | None = typer.Option(None, "--alias", help="Alias to point at the new version (default: live)."),
) -> None:
    from mlops_cli.render.lambda_ import deploy_table
    from mlops_cli.services.lambda_deploy import LambdaSpec, build_package, observe, plan_deploy, run_deploy

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
    config, clients, out = app_state.config, app_state.clients, app_state.out
    spec = LambdaSpec.from_config(config, clients.account_id, clients.partition)
    package = build_package()
    found = observe(clients.client, spec)
    plan = plan_deploy(spec, package, found)
    if app_state.dry_run:
        out.plan(plan)
        return
    if found.endpoint_status is None:
        out.warn(
            f"endpoint {spec.endpoint_name} does not exist (yet): the function answers 502 until "
            "`mlops deploy` creates it"
        )
    try:
        result = run_deploy(plan, clients.client, spec, found, package, on_status=out.detail)
    except KeyboardInterrupt:
        out.error(
            f"interrupted: a started update of {spec.function_name} goes on in AWS; re-run "
            "`mlops lambda deploy` to finish (it only does what is still missing)"
        )
        raise typer.Exit(130) from None
    if result.changes:
        out.info(
            f"deployed {spec.function_name}: alias {spec.alias} -> version {result.version} "
            f"({len(result.changes)} change{'s' if len(result.changes) != 1 else ''})"
        )
    else:
        out.info(
            f"unchanged: {spec.function_name} alias {spec.alias} -> version {result.version} is already "
            "up to date; nothing was sent"
        )
    out.result(result.to_dict(), deploy_table)


@app.command("invoke", help="Invoke the Lambda function with an image file or a URL and print the predictions.")
def invoke(
    ctx: typer.Context,
    image: Path | None = typer.Argument(None, help="Image file (JPEG, PNG, ...).", dir_okay=False),
    url: str | None = typer.Option(None, "--url", help="http(s) URL of an image, fetched by the endpoint."),
    alias: str | None = typer.Option(None, "--alias", help="Alias to invoke (default: lambda.alias)."),
    name: str | None = typer.Option(None, "--name", help="Function name (default: lambda.function_name)."),
    top_k: int | None = typer.Option(None, "--top-k", min=1, max=100, help="How many labels to return."),
) -> None:
    from mlops_cli.render.lambda_ import predictions_table
    from mlops_cli.services.lambda_deploy import invocation_event, invoke_function

    app_state = state(ctx)
    app_state.override({"lambda.function_name": name, "lambda.alias": alias}, flags={"lambda.function_name": "--name"})
    event = invocation_event(image, url, top_k)
    config = app_state.config
    result = invoke_function(app_state.clients.client("lambda"), config.function_name, config.lambda_.alias, event)
    app_state.out.result(result, predictions_table)
