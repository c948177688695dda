"""`mlops tune`: a SageMaker hyperparameter tuning job over `mlops train`'s training job, launched and followed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlops_cli.commands._common import interrupted_while_waiting, run, state

LOCAL_POLL_S = 1.0
AWS_POLL_S = 15.0


def tune(
    ctx: typer.Context,
    max_jobs: int | None = typer.Option(None, "--max-jobs", metavar="N", help="Trials in all. [config: tune.max_jobs]"),
    parallel: int | None = typer.Option(
        None, "--parallel", metavar="P", help="Trials at a time. [config: tune.parallel]"
    ),
    strategy: str | None = typer.Option(
        None,
        "--strategy",
        metavar="bayesian|random|grid|hyperband",
        help="How values are chosen. [config: tune.strategy]",
    ),
    objective: str | None = typer.Option(
        None,
        "--objective",
        metavar="NAME:min|max",
        help="Metric to optimise, e.g. valid_loss:min. [config: tune.objective]",
    ),
    ranges: list[str] | None = typer.Option(
        None,
        "--range",
        metavar="NAME=LOW:HIGH[:log|:linear] | NAME=a,b,c",
        help="A tuned hyperparameter (repeatable); replaces tune.ranges when given.",
    ),
    early_stopping: str | None = typer.Option(
        None,
        "--early-stopping",
        metavar="auto|off",
        help="auto: stop trials worse than the median of earlier ones. [config: tune.early_stopping]",
    ),
    warm_start: list[str] | None = typer.Option(
        None, "--warm-start", metavar="TUNING_JOB", help="Start from a previous tuning job's results (repeatable)."
    ),
    spot: bool | None = typer.Option(None, "--spot/--no-spot", help="Managed spot training for the trials."),
    hp: list[str] | None = typer.Option(
        None, "--hp", metavar="KEY=VALUE", help="Override a static hyperparameter (repeatable), e.g. --hp epochs=1."
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow the trials on a live leaderboard."),
    write_best: Path | None = typer.Option(
        None,
        "--write-best",
        metavar="FILE",
        help="Write the best values as a config overlay: mlops -c CONFIG -c FILE train.",
    ),
    job_name: str | None = typer.Option(
        None, "--job-name", metavar="NAME", help="1-32 characters. Default: <project>-<timestamp>."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="On Ctrl-C, stop the tuning job without asking."),
    max_cost: float | None = typer.Option(
        None, "--max-cost", metavar="USD", help="Refuse to launch when the trials could cost more (exit 2)."
    ),
) -> None:
    from mlops_cli.services import training, tuning
    from mlops_cli.usecases.training import planned_tuning

    app_state = state(ctx)
    overrides = training.hyperparameter_overrides(hp or [])  # bad flags: exit 2 before any AWS call
    app_state.override({**overrides, "train.sagemaker.spot": spot})
    config = app_state.config
    settings = tuning.settings(
        config,
        strategy=strategy,
        objective=objective,
        max_jobs=max_jobs,
        parallel=parallel,
        early_stopping=early_stopping,
        ranges=ranges,
        warm_start=warm_start,
    )
    if write_best is not None:
        tuning.check_overlay_target(write_best)
    out = app_state.out
    clients = app_state.clients
    planned = planned_tuning(config, clients, settings, job_name, max_cost)
    result = run(app_state, planned)
    sagemaker = clients.client("sagemaker")
    try:  # from here on trials run in AWS: Ctrl-C must say so (and may stop them)
        out.info(
            f"source package {result.source_uri} "
            + ("uploaded" if result.source_uploaded else "unchanged, not re-uploaded")
        )
        out.info(
            f"tuning job {result.job_name} created ({settings.strategy}, up to {settings.max_jobs} trials, "
            f"{settings.parallel} at a time, objective {settings.objective.spec})"
        )
        if not wait:
            out.info(f"not waiting; `mlops status` shows it, `{tuning.stop_command(result.job_name)}` stops it")
            _show(app_state, tuning.snapshot(sagemaker, result.job_name), write_best=None)
            return
        final = _follow(app_state, result.job_name)
    except KeyboardInterrupt:
        interrupted_while_waiting(
            app_state,
            "tuning job",
            result.job_name,
            yes=yes,
            stop=lambda: tuning.stop_tuning(sagemaker, result.job_name),
            stop_command=tuning.stop_command(result.job_name),
            describe_command="aws sagemaker describe-hyper-parameter-tuning-job "
            f"--hyper-parameter-tuning-job-name {result.job_name}",
        )
    _show(app_state, final, write_best=write_best)


def _follow(app_state: Any, name: str) -> Any:
    from mlops_cli.render.tune import LiveLeaderboard
    from mlops_cli.services import tuning

    clients = app_state.clients
    poll_s = LOCAL_POLL_S if clients.is_local else AWS_POLL_S
    with LiveLeaderboard(app_state.out) as board:
        for current in tuning.follow_tuning(clients.client("sagemaker"), name, poll_s=poll_s):
            board.update(current)
    return current


def _show(app_state: Any, current: Any, *, write_best: Path | None) -> None:
    from mlops_cli.errors import OperationError
    from mlops_cli.render.tune import result_table
    from mlops_cli.services import training, tuning

    sagemaker = app_state.clients.client("sagemaker")
    best = current.description.get("BestTrainingJob")
    best_description = training.describe_job(sagemaker, best["TrainingJobName"]) if best else None
    document = tuning.result_document(current, best_description)
    if write_best is not None and document["best"]:
        tuning.write_overlay(write_best, document["tuning_job"], document["best"]["hyperparameters"])
        app_state.out.info(f"best values written to {write_best} (use: mlops -c <config> -c {write_best} train)")
    app_state.out.result(document, result_table)
    if current.finished and current.status != "Completed":
        reason = document.get("failure_reason") or "no reason given"
        raise OperationError(f"tuning job {document['tuning_job']} {current.status.lower()}: {reason}")
    if current.finished and not document["best"]:
        raise OperationError(f"tuning job {document['tuning_job']}: no trial reported {document['objective']['name']}")
