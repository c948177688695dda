"""`mlops data sample|upload`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from mlops_cli.commands._common import state
from mlops_cli.errors import NotBuiltYet

app = typer.Typer(no_args_is_help=True)


@app.command("sample", help="Write the offline sample set (scikit-learn digits) as train/valid/test ImageFolder.")
def sample(
    ctx: typer.Context,
    dest: Optional[Path] = typer.Argument(None, help="Target folder (default: data.local_dir from the config)."),
) -> None:
    from mlops_cli.render import key_value_table
    from mlops_cli.services.sample_data import write_digits_imagefolder

    app_state = state(ctx)
    target = dest or Path(app_state.config.data.local_dir)
    counts = write_digits_imagefolder(target)
    data = {"path": str(target), "classes": 10, **counts}
    app_state.out.result(data, key_value_table("sample data written", list(data.items())))


@app.command("upload", help="Incremental, verified, parallel upload of a local image folder to S3.")
def upload() -> None:
    raise NotBuiltYet("data upload")
