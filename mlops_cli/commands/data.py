"""`mlops data sample|upload`."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import typer

from mlops_cli.commands._common import state
from mlops_cli.errors import Interrupted

app = typer.Typer(no_args_is_help=True)


@app.command("sample", help="Write the offline sample set (scikit-learn digits) as train/valid/test ImageFolder.")
def sample(
    ctx: typer.Context,
    dest: Path | None = typer.Argument(None, help="Target folder (default: data.local_dir from the config)."),
) -> None:
    from mlops_cli.render import key_value_table
    from mlops_cli.services.sample_data import write_digits_imagefolder

    app_state = state(ctx)
    target = dest or Path(app_state.config.data.local_dir)
    counts = write_digits_imagefolder(target)
    data = {"path": str(target), "classes": 10, **counts}
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
    jobs: int = typer.Option(16, "--jobs", "-j", min=1, max=64, help="Parallel transfers."),
) -> None:
    from mlops_cli.local.core.manager import mlops_home
    from mlops_cli.render.upload import UploadProgress, summary_table
    from mlops_cli.services import s3sync
    from mlops_cli.services.naming import data_uri

    app_state = state(ctx)
    config = app_state.config
    dest = s3sync.parse_s3_uri(to or data_uri(config))
    threshold = s3sync.parse_multipart_threshold(multipart_threshold)
    tree = s3sync.scan_source(src or Path(config.data.local_dir))
    out = app_state.out
    for name, why in tree.skipped:
        out.warn(f"skipped {ascii(name) if not name.isprintable() else repr(name)}: {why}")
    s3 = app_state.clients.client("s3")
    with s3sync.SyncState(mlops_home(), config.aws.endpoint_url or "aws", dest.bucket) as sync_state:
        plan = s3sync.plan_sync(
            s3,
            tree,
            dest,
            sync_state,
            delete=delete,
            create_bucket=create_bucket,
            multipart_threshold=threshold,
            jobs=jobs,
        )
        if app_state.dry_run:  # the transfers run in parallel, resumable (s3sync.run_sync), not step by step
            shown = plan.to_plan()
            shown.assumed_empty = app_state.clients.offline
            out.plan(shown)
            return
        # Nothing to send (a re-run with no change): no progress bar, and rich.progress is not even imported.
        with UploadProgress(out) if plan.transfers else nullcontext() as progress:
            result = s3sync.run_sync(s3, plan, sync_state, jobs=jobs, observer=progress).to_dict()
    out.result(result, summary_table(result))
    if result["interrupted"]:
        raise Interrupted(
            f"interrupted: {result['uploaded']} files finished, {result['pending']} not sent",
            hint="re-run the same command to resume; finished files are not sent again",
        )
