"""`mlops train`: a SageMaker training job (N > 1 instances = real torch DDP), launched and followed."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import run, state, stop_question


def train(
    ctx: typer.Context,
    instance_count: int | None = typer.Option(
        None,
        "--instance-count",
        "--instances",
        metavar="N",
        help="Instances; N > 1 trains one model with torch DDP across them. [config: train.sagemaker.instance_count]",
    ),
    instance_type: str | None = typer.Option(
        None, "--instance-type", metavar="TYPE", help="e.g. ml.m5.xlarge, ml.g5.xlarge (GPU image chosen for g/p)."
    ),
    spot: bool | None = typer.Option(
        None, "--spot/--no-spot", help="Managed spot training, resuming from S3 checkpoints after interruption."
    ),
    hp: list[str] | None = typer.Option(
        None, "--hp", metavar="KEY=VALUE", help="Override a hyperparameter (repeatable), e.g. --hp epochs=3."
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the job: status, logs, metrics, result."),
    job_name: str | None = typer.Option(
        None, "--job-name", metavar="NAME", help="Default: <project>-train-<timestamp>."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="On Ctrl-C, stop the job without asking."),
    max_cost: float | None = typer.Option(
        None, "--max-cost", metavar="USD", help="Refuse to launch when the job could cost more (exit 2)."
    ),
) -> None:
    from mlops_cli.render import train as render
    from mlops_cli.usecases.training import follow_training, hyperparameter_overrides, planned_training

    app_state = state(ctx)
    overrides = hyperparameter_overrides(hp or [])  # bad --hp: exit 2 before any AWS call
    app_state.override(
        {
            **overrides,
            "train.sagemaker.instance_count": instance_count,
            "train.sagemaker.instance_type": instance_type,
            "train.sagemaker.spot": spot,
        }
    )
    config, out, clients = app_state.config, app_state.out, app_state.clients
    result = run(app_state, planned_training(config, clients, job_name, max_cost))
    sagemaker = config.train.sagemaker
    outcome = follow_training(
        clients,
        result.job_name,
        on_launched=lambda stop_command: render.launched(
            out,
            result,
            "training job",
            f"{sagemaker.instance_count} x {sagemaker.instance_type}",
            wait=wait,
            stop_command=stop_command,
        ),
        on_event=(lambda item: render.event(out, item)) if wait else None,
        stop_asked=stop_question(yes),
    )
    out.result(outcome.description, render.job_table)
    if wait and not outcome.completed:
        render.log_tail(outcome.log_tail)
        raise outcome.failure()
