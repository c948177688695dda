"""`mlops init --local`: the current folder made an mlops project on the embedded local AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def init_local_project(folder: Path, port: int, force: bool) -> dict[str, Any]:
    """Write `folder/mlops.yaml` for the local AWS on `port` (services/project_file.py: never over a file of the
    user's); the file, the local AWS's URL and the project's home."""
    from mlops_cli.config.project import HOME_FOLDER
    from mlops_cli.config.project import shown as shown_path
    from mlops_cli.services.project_file import write_local_project

    target = write_local_project(folder, port, force)
    return {
        "config_file": shown_path(target),
        "endpoint_url": f"http://127.0.0.1:{port}",
        "home": str(target.parent / HOME_FOLDER),
    }
