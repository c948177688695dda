"""`mlops train-ec2`: train the model package on a self-terminating EC2 instance, or (--local) on this machine."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands._common import run, state
from mlops_cli.errors import Interrupted, OperationError, UsageError

LOCAL_OUT_ROOT = Path(".mlops") / "train-ec2"
OUT_MARKER = ".mlops-train-ec2"  # marks an --out-dir as this command's own output


def train_ec2(
    ctx: typer.Context,
    instance_type: str | None = typer.Option(
        None, "--instance-type", help="EC2 instance type (default: train.ec2.instance_type)."
    ),
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow the job to its end; failure exits 1."),
    job_name: str | None = typer.Option(None, "--job-name", help="Default: <project>-ec2-<UTC timestamp>."),
    hp: list[str] | None = typer.Option(
        None, "--hp", metavar="NAME=VALUE", help="Hyperparameter over the config (repeatable), e.g. --hp epochs=3."
    ),
    local: bool = typer.Option(
        False, "--local", help="Run the EC2 entry point on this machine (e.g. when you are on the instance)."
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="With --local: the train/valid/test image folder (default: data.local_dir)."
    ),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="With --local: where model/ and model.tar.gz go (default: .mlops/train-ec2/<job>)."
    ),
    upload: bool = typer.Option(
        True, "--upload/--no-upload", help="With --local: upload model.tar.gz to <models>/<job>/output/."
    ),
) -> None:
    from mlops_cli.services import naming, training

    app_state = state(ctx)
    if local and instance_type:
        raise UsageError("--instance-type does not apply with --local (it trains on this machine)")
    if not local and (data_dir or out_dir or not upload):
        raise UsageError("--data-dir, --out-dir and --no-upload apply only with --local")
    overrides = training.hyperparameter_overrides(hp or [])  # bad --hp: exit 2 before any AWS call
    if instance_type:
        overrides["train.ec2.instance_type"] = instance_type
    if data_dir:
        overrides["data.local_dir"] = str(data_dir)
    app_state.override(overrides, flags={"data.local_dir": "--data-dir"})
    config = app_state.config
    name = training.check_job_name(job_name or naming.timestamped(config, "ec2"))
    if local:
        _train_here(app_state, name, out_dir or LOCAL_OUT_ROOT / name, upload)
    else:
        _train_on_ec2(app_state, name, wait)


def _train_on_ec2(app_state, name: str, wait: bool) -> None:
    from mlops_cli.render import console
    from mlops_cli.render import train_ec2 as render
    from mlops_cli.services import ec2_follow, ec2_images, ec2_job, ec2_roles, naming
    from mlops_cli.services import ec2_training as service
    from mlops_cli.services.packaging import build_source_tarball, source_uri

    config, out, clients = app_state.config, app_state.out, app_state.clients
    package = build_source_tarball()
    job = ec2_job.new_job(config, name, source_uri(package, naming.code_prefix(config)))
    warning = ec2_images.unsupported_type_warning(job.instance_type, config.train.ec2.ami_id)
    if warning:
        out.warn(warning)
    if app_state.dry_run and not out.json:  # the bootstrap the instance runs, readable
        render.user_data(console(stderr=True), service.user_data(job))
    planned = service.planned_launch(clients.client, config, job, package, clients.partition, clients.offline)
    launched = run(app_state, planned)
    out.info(
        f"launched {launched.instance_id} ({job.instance_type}, {launched.image_name or launched.image_id}) "
        f"for job {name}"
    )
    if not wait:
        out.result(launched.to_dict(), render.launched)
        return
    instance_id = launched.instance_id
    try:
        with out.progress(columns=_progress_columns()) as progress:
            task = progress.add_task(f"{name}: launching", total=None)

            def on_state(state_name: str) -> None:
                out.info(f"instance {instance_id}: {state_name}")
                progress.update(task, description=f"{name}: instance {instance_id} {state_name}")

            status = ec2_follow.follow(
                clients.client("ec2"),
                clients.client("s3"),
                job,
                instance_id,
                poll_s=1.0 if clients.is_local else 15.0,
                on_state=on_state,
            )
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped waiting; instance {instance_id} keeps training and terminates itself when the job ends "
            f"(status: {job.status_uri})",
            hint=f"stop it now with: {ec2_follow.stop_hint(instance_id)}",
        ) from None
    ec2_roles.remove_job_policy(clients.client("iam"), config, job.policy_name)
    result = {**launched.to_dict(), **status}
    if status.get("status") != "Completed":
        for line in status.get("log_tail", [])[-10:]:
            out.info(f"  | {line}")
        if out.json:
            out.result(result)
        raise OperationError(f"EC2 training job {name} failed: {status.get('reason') or 'no reason recorded'}")
    out.result(result, render.finished)


def _train_here(app_state, name: str, out_dir: Path, upload: bool) -> None:
    from mlops_cli.plan import Plan
    from mlops_cli.render import train_ec2 as render
    from mlops_cli.services import ec2_job, ec2_local
    from mlops_cli.services.owned_folder import check_owned, claim
    from mlops_cli.services.packaging import split_s3_uri

    config, out = app_state.config, app_state.out
    # Its model/, checkpoints/ (a re-run resumes from them) and model.tar.gz; never a folder of the user's.
    check_owned(
        out_dir, OUT_MARKER, "mlops train-ec2 --local", {"model", "checkpoints", "model.tar.gz", "model.tar.gz.partial"}
    )
    job = ec2_job.new_job(config, name, code_uri="")
    data = Path(config.data.local_dir)
    ec2_local.check_data_dir(data)
    argv = ec2_local.local_command(job, data, out_dir)
    tar_path = out_dir / "model.tar.gz"
    if app_state.dry_run:
        plan = Plan(f"train-ec2 --local {name}")
        plan.add("local", "Run", {"argv": argv}, "the EC2 entry point on this machine")
        if upload:
            bucket, key = split_s3_uri(job.model_artifact)
            plan.add("s3", "PutObject", {"Bucket": bucket, "Key": key, "Body": f"<{tar_path}>"})
        out.plan(plan)
        return
    claim(out_dir, OUT_MARKER, "mlops train-ec2 --local")
    out.info(f"training {name} here: {' '.join(argv[1:])}")
    code, tail = ec2_local.run_local(argv, out.info)
    if code != 0:
        raise OperationError(f"training failed (exit {code}): {tail[-1] if tail else 'no output'}")
    ec2_local.pack_model_dir(out_dir / "model", tar_path)
    result = {
        "job_name": name,
        "data_dir": str(data),
        "model_dir": str(out_dir / "model"),
        "model_tar": str(tar_path),
        "model_artifact": None,
    }
    if upload:
        ec2_local.upload_artifact(app_state.clients.client("s3"), tar_path, job.model_artifact)
        result["model_artifact"] = job.model_artifact
    out.result(result, render.local_run)


def _progress_columns() -> tuple:
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    return SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()
