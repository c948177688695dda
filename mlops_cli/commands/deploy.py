"""`mlops deploy`: create the endpoint, or update it blue/green, from a trained model; optionally with scaling."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import run, state


def deploy(
    ctx: typer.Context,
    model: str | None = typer.Option(
        None, "--model", metavar="S3_URI", help="model.tar.gz to deploy (default: the latest completed training job)."
    ),
    job: str | None = typer.Option(None, "--job", metavar="NAME", help="Deploy this training job's model."),
    tuning_job: str | None = typer.Option(
        None, "--tuning-job", metavar="NAME", help="Deploy the model of this tuning job's best training job."
    ),
    endpoint: str | None = typer.Option(
        None, "--endpoint", metavar="NAME", help="Endpoint name (default: deploy.endpoint_name or <project>-endpoint)."
    ),
    instance_type: str | None = typer.Option(
        None, "--instance-type", metavar="TYPE", help="e.g. ml.m5.large (default: deploy.instance_type)."
    ),
    instance_count: int | None = typer.Option(
        None, "--instance-count", metavar="N", help="Initial instance count (default: deploy.instance_count)."
    ),
    autoscale: str | None = typer.Option(
        None,
        "--autoscale",
        metavar="max=2[,min=1,target=5,scale-in-cooldown=30,scale-out-cooldown=30]",
        help="Apply target-tracking scaling once InService; unset keys come from the autoscale config.",
    ),
    serverless: str | None = typer.Option(
        None,
        "--serverless",
        metavar="memory=2048[,concurrency=5]",
        help="A serverless endpoint (billed per request, none while idle) instead of instances.",
    ),
    rollout: str | None = typer.Option(
        None,
        "--rollout",
        metavar="canary:10%:5m|linear:25%:2m|all-at-once[:5m]",
        help="Shift an update's traffic step by step, baking between steps (default: deploy.rollout.strategy).",
    ),
    rollback_on: list[str] | None = typer.Option(
        None,
        "--rollback-on",
        metavar="p99>800ms|5xx>1%|errors>5|ALARM",
        help="Roll the update back when this alarm fires on the new fleet; repeatable "
        "(default: deploy.rollout.rollback_on).",
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the endpoint is InService."),
    max_cost: float | None = typer.Option(
        None,
        "--max-cost",
        metavar="USD",
        help="Refuse to deploy when a month at the maximum instance count would cost more (exit 2).",
    ),
) -> None:
    from mlops_cli.render.deploy import deploy_table
    from mlops_cli.usecases.deploy import DeployRequest, planned_deploy, serverless_overrides

    app_state = state(ctx)
    serverless_keys = serverless_overrides(serverless) if serverless is not None else {}
    app_state.override(
        {
            "deploy.endpoint_name": endpoint,
            "deploy.instance_type": instance_type,
            "deploy.instance_count": instance_count,
            "deploy.rollout.strategy": rollout,
            "deploy.rollout.rollback_on": rollback_on or None,
            **serverless_keys,
        },
        flags={
            "deploy.endpoint_name": "--endpoint",
            "deploy.rollout.strategy": "--rollout",
            "deploy.rollout.rollback_on": "--rollback-on",
            **dict.fromkeys(serverless_keys, "--serverless"),
        },
    )
    instance_flags = instance_type is not None or instance_count is not None
    request = DeployRequest(model, job, tuning_job, autoscale, wait, max_cost, instance_flags)
    planned = planned_deploy(app_state.config, app_state.clients, request)
    app_state.out.result(run(app_state, planned), deploy_table)
