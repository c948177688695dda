"""`mlops train`: a SageMaker training job (N > 1 instances = real torch DDP), launched and followed."""

from __future__ import annotations

from collections import deque
from typing import Any, NoReturn

import typer

from mlops_cli.commands._common import interrupted_while_waiting, run, state

LOCAL_POLL_S = 1.0
AWS_POLL_S = 10.0
FAILURE_TAIL_LINES = 10


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
    from mlops_cli.services import training
    from mlops_cli.usecases.training import planned_training

    app_state = state(ctx)
    overrides = training.hyperparameter_overrides(hp or [])  # bad --hp: exit 2 before any AWS call
    app_state.override(
        {
            **overrides,
            "train.sagemaker.instance_count": instance_count,
            "train.sagemaker.instance_type": instance_type,
            "train.sagemaker.spot": spot,
        }
    )
    config = app_state.config
    out = app_state.out
    clients = app_state.clients
    planned = planned_training(config, clients, job_name, max_cost)
    result = run(app_state, planned)
    try:  # from here on a job runs in AWS: Ctrl-C must say so (and may stop it)
        out.info(
            f"source package {result.source_uri} "
            + ("uploaded" if result.source_uploaded else "unchanged, not re-uploaded")
        )
        out.info(
            f"training job {result.job_name} created "
            f"({config.train.sagemaker.instance_count} x {config.train.sagemaker.instance_type})"
        )
        if not wait:
            out.info(f"not waiting; `mlops status` shows it, `{training.stop_command(result.job_name)}` stops it")
            _show(out, training.describe_job(clients.client("sagemaker"), result.job_name))
            return
        description, log_tail = _follow(app_state, result.job_name)
    except KeyboardInterrupt:
        _interrupted(app_state, result.job_name, yes=yes)
    _show(out, description)
    if description["TrainingJobStatus"] != "Completed":
        from mlops_cli.render.train import log_tail as show_log_tail

        show_log_tail(log_tail)
        raise training.failure_error(description)


def _show(out: Any, description: dict[str, Any]) -> None:
    from mlops_cli.render.train import job_table

    out.result(description, job_table)


def _follow(app_state: Any, job_name: str) -> tuple[dict[str, Any], list[str]]:
    """Render the job's events until it ends; returns its final description and the last log lines."""
    from mlops_cli.render.train import event
    from mlops_cli.services import training

    clients = app_state.clients
    poll_s = LOCAL_POLL_S if clients.is_local else AWS_POLL_S
    tail: deque[str] = deque(maxlen=FAILURE_TAIL_LINES)
    for item in training.follow_job(clients.client("sagemaker"), clients.client("logs"), job_name, poll_s=poll_s):
        event(app_state.out, item)
        if isinstance(item, (training.LogLine, training.MetricValues)):
            line = item.line if isinstance(item, training.MetricValues) else item
            tail.append(f"[{line.host}] {line.message}")
        elif isinstance(item, training.JobFinished):
            return item.description, list(tail)
    raise AssertionError("follow_job ends with JobFinished")  # pragma: no cover


def _interrupted(app_state: Any, job_name: str, *, yes: bool) -> NoReturn:
    from mlops_cli.services import training

    interrupted_while_waiting(
        app_state,
        "training job",
        job_name,
        yes=yes,
        stop=lambda: training.stop_job(app_state.clients.client("sagemaker"), job_name),
        stop_command=training.stop_command(job_name),
        describe_command=f"aws sagemaker describe-training-job --training-job-name {job_name}",
    )
