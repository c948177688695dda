"""The project folder: the nearest `mlops.yaml` up from the current folder, like terraform's working directory or
git's `.git`. It is the config read when neither `-c` nor `MLOPS_CONFIG` names one, and its `.mlops/` folder is
the home of the project's local AWS (state, credentials, upload records) unless `MLOPS_HOME` names another.

Only the standard library here: every command resolves these before anything else (`mlops --help` stays fast).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

PROJECT_FILE = "mlops.yaml"
HOME_FOLDER = ".mlops"
# `MLOPS_CONFIG` set, even empty, names the config files itself: no search (empty: the built-in defaults).
CONFIG_ENV = "MLOPS_CONFIG"
HOME_ENV = "MLOPS_HOME"


def find_project_file(start: Path | None = None) -> Path | None:
    """`mlops.yaml` in `start` (default: the current folder) or the nearest parent that has one. Raises UsageError
    for one that cannot be the project's: not a readable file (a dangling link, a folder: falling back to real AWS
    would be a surprise), or owned by another user (a shared folder such as /tmp must not choose the endpoint and
    the home of everyone working below it; git refuses such repositories for the same reason)."""
    folder = (start or Path.cwd()).absolute()
    for candidate in (folder, *folder.parents):
        file = candidate / PROJECT_FILE
        if not os.path.lexists(file):
            continue
        try:
            found = file.stat()
        except OSError as exc:
            raise _refused(file, f"cannot be read ({exc.strerror})") from None
        if not stat.S_ISREG(found.st_mode):
            raise _refused(file, "is not a file")
        if found.st_uid != os.getuid():
            raise _refused(file, f"is owned by another user (uid {found.st_uid}), so it is not read")
        return file
    return None


def _refused(file: Path, why: str) -> Exception:
    from mlops_cli.errors import UsageError

    return UsageError(
        f"project config {file} {why}",
        hint="fix or remove it, or name the config and the home yourself: MLOPS_CONFIG=FILE (or -c FILE) and "
        "MLOPS_HOME=FOLDER",
    )


def shown(path: Path) -> str:
    """A path as messages show it: relative to the current folder when it lies inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def default_config_files(env: Mapping[str, str] | None = None, start: Path | None = None) -> list[str]:
    """The config files when no `-c` is given: `$MLOPS_CONFIG` (os.pathsep-separated) when it is set, else the
    project's `mlops.yaml`, else none (the built-in defaults: real AWS)."""
    env = os.environ if env is None else env
    if CONFIG_ENV in env:
        return [part for part in env[CONFIG_ENV].split(os.pathsep) if part]
    found = find_project_file(start)
    return [shown(found)] if found else []


def mlops_home(env: Mapping[str, str] | None = None, start: Path | None = None) -> Path:
    """Where this invocation keeps its local AWS and records: `$MLOPS_HOME`, else `.mlops/` beside the project's
    `mlops.yaml`, else `~/.mlops`."""
    env = os.environ if env is None else env
    if env.get(HOME_ENV):
        return Path(env[HOME_ENV])
    found = find_project_file(start)
    return found.parent / HOME_FOLDER if found else Path.home() / HOME_FOLDER
