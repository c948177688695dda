"""`mlops predict-batch`: score a folder or S3 prefix of images with a SageMaker batch transform job."""

from __future__ import annotations

import typer

from mlops_cli.commands._common import run, state


def predict_batch(
    ctx: typer.Context,
    source: str = typer.Argument(
        ..., metavar="INPUT", help="s3://bucket/prefix of images, or a local folder (uploaded first)."
    ),
    to: str | None = typer.Option(
        None, "--to", metavar="S3_URI", help="Where the .out objects go (default: <predictions prefix>/<job>)."
    ),
    model: str | None = typer.Option(
        None, "--model", metavar="S3_URI", help="model.tar.gz to use (default: the latest completed training job)."
    ),
    job: str | None = typer.Option(None, "--job", metavar="NAME", help="Use this training job's model."),
    tuning_job: str | None = typer.Option(
        None, "--tuning-job", metavar="NAME", help="Use the model of this tuning job's best training job."
    ),
    instance_type: str | None = typer.Option(
        None, "--instance-type", metavar="TYPE", help="e.g. ml.m5.large (default: batch.instance_type)."
    ),
    instance_count: int | None = typer.Option(
        None, "--instance-count", metavar="N", help="Instances sharing the inputs (default: batch.instance_count)."
    ),
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow the job to its end and summarize the outputs."),
) -> None:
    from mlops_cli.render.batch import batch_table
    from mlops_cli.render.upload import UploadProgress
    from mlops_cli.usecases.batch import BatchRequest, check_finished, planned_batch

    app_state = state(ctx)
    app_state.override(
        {"batch.instance_type": instance_type, "batch.instance_count": instance_count},
        flags={"batch.instance_type": "--instance-type", "batch.instance_count": "--instance-count"},
    )
    request = BatchRequest(source, to, model, job, tuning_job, wait)
    out = app_state.out
    with planned_batch(app_state.config, app_state.clients, request, lambda: UploadProgress(out)) as planned:
        result = run(app_state, planned)
    out.result(result, batch_table)
    check_finished(result)
