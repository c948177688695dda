"""`mlops train-ec2`: train the model package on a self-terminating EC2 instance, or (--local) on this machine."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands._common import run, state


def train_ec2(
    ctx: typer.Context,
    instance_type: str | None = typer.Option(
        None, "--instance-type", metavar="TYPE", help="EC2 instance type (default: train.ec2.instance_type)."
    ),
    wait: bool = typer.Option(
        True, "--wait/--no-wait", help="Follow the job to its end (failure exits 1); --no-wait: launch and return."
    ),
    job_name: str | None = typer.Option(
        None, "--job-name", metavar="NAME", help="Default: <project>-ec2-<UTC timestamp>."
    ),
    hp: list[str] | None = typer.Option(
        None, "--hp", metavar="NAME=VALUE", help="Hyperparameter over the config (repeatable), e.g. --hp epochs=3."
    ),
    local: bool = typer.Option(
        False, "--local", help="Run the EC2 entry point on this machine (e.g. when you are on the instance)."
    ),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        metavar="DIR",
        help="With --local: the train/valid/test image folder (default: data.local_dir).",
    ),
    out_dir: Path | None = typer.Option(
        None,
        "--out-dir",
        metavar="DIR",
        help="With --local: where model/ and model.tar.gz go (default: .mlops/train-ec2/<job>).",
    ),
    upload: bool = typer.Option(
        True, "--upload/--no-upload", help="With --local: upload model.tar.gz to <models>/<job>/output/."
    ),
    max_cost: float | None = typer.Option(
        None,
        "--max-cost",
        metavar="USD",
        help="Refuse to launch when the instance could cost more, up to train.ec2.max_run_s (exit 2).",
    ),
) -> None:
    from mlops_cli.render import console
    from mlops_cli.render import train_ec2 as render
    from mlops_cli.usecases.ec2_training import (
        Ec2TrainingRequest,
        check_flags,
        failure,
        follow_launch,
        planned_ec2_training,
    )
    from mlops_cli.usecases.training import hyperparameter_overrides

    check_flags(
        local=local, instance_type=instance_type, local_only=bool(data_dir or out_dir or not upload), max_cost=max_cost
    )
    app_state = state(ctx)
    overrides = hyperparameter_overrides(hp or [])  # bad --hp: exit 2 before any AWS call
    if instance_type:
        overrides["train.ec2.instance_type"] = instance_type
    if data_dir:
        overrides["data.local_dir"] = str(data_dir)
    app_state.override(overrides, flags={"data.local_dir": "--data-dir"})
    config, out, clients = app_state.config, app_state.out, app_state.clients
    request = Ec2TrainingRequest(job_name, local, out_dir, upload, max_cost)
    bootstrap, planned = planned_ec2_training(config, clients, request, on_output=out.info)
    if app_state.dry_run and bootstrap is not None and not out.json:  # the bootstrap the instance runs, readable
        render.user_data(console(stderr=True), bootstrap)
    if local:
        out.result(run(app_state, planned), render.local_run)
        return
    launch = run(app_state, planned)
    out.info(
        f"launched {launch.instance_id} ({launch.job.instance_type}, {launch.image_name or launch.image_id}) "
        f"for job {launch.job.name}"
    )
    if not wait:
        out.result(launch.to_dict(), render.launched)
        return
    with render.following(out, launch.job.name, launch.instance_id) as on_state:
        result = follow_launch(config, clients, launch, on_state)
    if result.get("status") != "Completed":
        render.failed(out, result)
        raise failure(result)
    out.result(result, render.finished)
