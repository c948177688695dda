"""`mlops deploy`: create the endpoint, or update it blue/green, from a trained model; optionally with scaling."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import state
from mlops_cli.errors import UsageError


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
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait until the endpoint is InService."),
    max_cost: float | None = typer.Option(
        None,
        "--max-cost",
        metavar="USD",
        help="Refuse to deploy when a month at the maximum instance count would cost more (exit 2).",
    ),
) -> None:
    from mlops_cli.render.deploy import deploy_table, endpoint_progress
    from mlops_cli.services import autoscaling, images, naming, sagemaker_roles
    from mlops_cli.services import deploy as service
    from mlops_cli.services.cost import summary as cost_summary

    app_state = state(ctx)
    app_state.override(
        {
            "deploy.endpoint_name": endpoint,
            "deploy.instance_type": instance_type,
            "deploy.instance_count": instance_count,
        },
        flags={"deploy.endpoint_name": "--endpoint"},
    )
    config = app_state.config
    out = app_state.out
    scaling = None
    if autoscale is not None:
        scaling = autoscaling.parse_spec(autoscale, autoscaling.ScalingSettings.from_config(config.autoscale))
        if not wait:
            raise UsageError("--autoscale is applied once the endpoint is InService, so it needs --wait")
    if model and job:
        raise UsageError("give --model or --job, not both")
    if tuning_job and (model or job):
        raise UsageError("give --tuning-job alone, not with --model or --job")
    if model:
        service.object_location(model)
    if job:
        from mlops_cli.services.training import check_job_name

        check_job_name(job, "--job")
    sagemaker = config.train.sagemaker
    image = images.image_uri(
        config.aws.region, sagemaker.framework_version, sagemaker.py_version, config.deploy.instance_type, "inference"
    )

    clients = app_state.clients
    if tuning_job:
        from mlops_cli.services.tuning import best_trial_name

        job = best_trial_name(clients.client("sagemaker"), tuning_job)
    artifact = service.resolve_artifact(clients.client("sagemaker"), clients.client("s3"), config.project, model, job)
    if tuning_job:
        artifact.source = f"best training job {job} of tuning job {tuning_job}"
    role_arn = naming.endpoint_role_arn(config, lambda: clients.account_id, clients.partition)
    role_steps = (
        []
        if sagemaker.role_arn
        else sagemaker_roles.role_steps(
            sagemaker_roles.endpoint_role(), config, account_id=clients.account_id, partition=clients.partition
        )
    )
    target = service.build_target(config, artifact, image, role_arn, scaling)
    live = service.read_live(
        clients.client("sagemaker"), clients.client(autoscaling.SERVICE), target.endpoint, target.variant
    )
    plan = service.plan_deploy(target, live, role_steps)
    plan.plan.cost = _cost(app_state, target, scaling, max_cost)
    if app_state.dry_run:
        out.plan(plan.plan)
        return
    if plan.after and not wait:
        raise UsageError(
            "this update removes the variant's autoscaling while the instance type changes and "
            "re-applies it once InService, so it needs --wait"
        )
    out.info(cost_summary(plan.plan.cost))
    out.info(
        f"{'creating' if plan.action == 'create' else 'updating (blue/green)'} endpoint {target.endpoint} "
        f"with {artifact.uri} ({artifact.source})"
    )
    try:
        with endpoint_progress(out, target.endpoint) as on_status:
            result = service.run_deploy(plan, clients.client, wait, on_status, on_wait=out.info)
    except KeyboardInterrupt:
        doing = (
            "creation"
            if plan.action == "create"
            else f"update to {target.config_name} (the previous configuration serves until it completes)"
        )
        out.error(
            f"stopped waiting; the endpoint's {doing} continues in AWS"
            + ("; its autoscaling was removed for the update" if plan.restore else ""),
            f"follow it with `mlops status`; stop paying with `mlops teardown --endpoint {target.endpoint}`"
            + ("; re-apply scaling with `mlops autoscale`" if plan.restore else ""),
        )
        raise typer.Exit(130) from None
    out.result(result, deploy_table)


def _cost(app_state, target, scaling, max_cost: float | None) -> dict:
    """The endpoint per hour and month at its minimum and maximum instance counts; --max-cost checked here."""
    from mlops_cli.services import cost

    config, clients = app_state.config, app_state.clients
    instance_type = config.deploy.instance_type
    low = scaling.min if scaling else config.deploy.instance_count
    high = max(scaling.max, low) if scaling else config.deploy.instance_count
    prices = cost.load_prices(
        None if clients.is_local or app_state.dry_run else clients.session,
        config.aws.region,
        hosting_types=(instance_type,),
    )
    estimate = cost.endpoint_cost(prices, instance_type, low, high)
    cost.check_budget(estimate, max_cost, f"endpoint {target.endpoint} ({high} x {instance_type})")
    return estimate
