"""`mlops tune`: a SageMaker hyperparameter tuning job over `mlops train`'s training job, launched and followed."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands._common import run, state, stop_question


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
        metavar="NAME=LOW:HIGH[:log|:linear|:reverselog|:auto] | NAME=a,b,c",
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
    seed: int | None = typer.Option(
        None, "--seed", metavar="N", help="RandomSeed of the search: the same seed chooses the same values."
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
        help="Write the best trial's hyperparameters as a config overlay: mlops -c CONFIG -c FILE train.",
    ),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        metavar="FILE.png",
        help="Write each trial's objective per epoch and the tuned values against the objective to a PNG.",
    ),
    job_name: str | None = typer.Option(
        None, "--job-name", metavar="NAME", help="1-32 characters. Default: <project>-<timestamp>."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="On Ctrl-C, stop the tuning job without asking."),
    max_cost: float | None = typer.Option(
        None, "--max-cost", metavar="USD", help="Refuse to launch when the trials could cost more (exit 2)."
    ),
) -> None:
    from mlops_cli.render import train as render_train
    from mlops_cli.render import tune as render
    from mlops_cli.usecases.training import (
        TuneRequest,
        follow_tuning,
        hyperparameter_overrides,
        planned_tuning,
        tuning_settings,
    )

    app_state = state(ctx)
    overrides = hyperparameter_overrides(hp or [])  # bad flags: exit 2 before any AWS call
    app_state.override({**overrides, "train.sagemaker.spot": spot})
    config = app_state.config
    request = TuneRequest(strategy, objective, max_jobs, parallel, early_stopping, ranges, warm_start, seed, write_best)
    settings = tuning_settings(config, request)
    if plot is not None:
        from mlops_cli.errors import UsageError
        from mlops_cli.render.plots import check_plot_path

        if not wait:
            raise UsageError("--plot needs the trials followed to the end: leave out --no-wait")
        check_plot_path(plot)
    out, clients = app_state.out, app_state.clients
    result = run(app_state, planned_tuning(config, clients, settings, job_name, max_cost))
    outcome = follow_tuning(
        clients,
        result.job_name,
        on_launched=lambda stop_command: render_train.launched(
            out,
            result,
            "tuning job",
            f"{settings.strategy}, up to {settings.max_jobs} trials, {settings.parallel} at a time, "
            f"objective {settings.objective.spec}",
            wait=wait,
            stop_command=stop_command,
        ),
        following=render.following(out) if wait else None,
        stop_asked=stop_question(yes),
        write_best=write_best,
        curves=plot is not None,
    )
    if outcome.overlay is not None:
        out.info(f"best values written to {outcome.overlay} (use: mlops -c <config> -c {outcome.overlay} train)")
    if plot is not None and outcome.curves is not None:
        render.write_plot(outcome.document, outcome.curves, outcome.ranges, plot)
        outcome.document["plot"] = str(plot)
    out.result(outcome.document, render.result_table)
    failure = outcome.failure()
    if failure is not None:
        raise failure
