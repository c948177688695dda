"""`mlops data sample|upload`."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands._common import run, state

app = typer.Typer(no_args_is_help=True)


@app.command("sample", help="Write the offline sample set (scikit-learn digits) as train/valid/test ImageFolder.")
def sample(
    ctx: typer.Context,
    dest: Path | None = typer.Argument(
        None, metavar="DEST", help="Target folder (default: data.local_dir from the config)."
    ),
) -> None:
    from mlops_cli.render import key_value_table
    from mlops_cli.usecases.sample_data import write_sample

    app_state = state(ctx)
    data = write_sample(app_state.config, dest)
    app_state.out.result(data, key_value_table("sample data written", list(data.items())))


@app.command("upload", help="Incremental, verified, parallel upload of a local image folder to S3.")
def upload(
    ctx: typer.Context,
    src: Path | None = typer.Argument(
        None, metavar="SRC", help="Local folder (default: data.local_dir from the config)."
    ),
    to: str | None = typer.Option(
        None,
        "--to",
        metavar="S3_URI",
        help="s3://bucket/prefix (default: s3://<s3.bucket>/<s3.prefix>/<data.s3_prefix> from the config).",
    ),
    delete: bool = typer.Option(False, "--delete", help="Delete remote objects under the prefix with no local file."),
    create_bucket: bool = typer.Option(
        True, "--create-bucket/--no-create-bucket", help="Create the bucket when it does not exist."
    ),
    multipart_threshold: str = typer.Option(
        "8MiB",
        "--multipart-threshold",
        metavar="SIZE",
        help="Files this large or larger go as multipart uploads (>= 5MiB).",
    ),
    jobs: int = typer.Option(16, "--jobs", "-j", metavar="N", min=1, max=64, help="Parallel transfers."),
) -> None:
    from mlops_cli.render.upload import UploadProgress, summary_table
    from mlops_cli.usecases.upload import (
        UploadRequest,
        check_finished,
        default_destination,
        default_source,
        planned_upload,
    )

    app_state = state(ctx)
    out = app_state.out
    values = app_state.config_values  # the config's values, from the validation cache when unchanged
    source, destination = src or default_source(values), to or default_destination(values)
    request = UploadRequest(source, destination, delete, create_bucket, multipart_threshold, jobs)
    with planned_upload(app_state.clients, request, lambda: UploadProgress(out)) as planned:
        result = run(app_state, planned)
    out.result(result, summary_table(result))
    check_finished(result)
