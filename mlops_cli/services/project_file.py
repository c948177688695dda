"""`mlops init --local`: the project's `mlops.yaml` for the embedded local AWS, written whole or not at all.

It never replaces a file it did not write: `--force` overwrites only an `mlops.yaml` that starts with its own first
line. Its content is the shipped local profile (`mlops_cli/config/local.yaml`, which `configs/local.yaml` links to)
with the port chosen.
"""

from __future__ import annotations

from pathlib import Path

from mlops_cli.config.project import HOME_FOLDER, PROJECT_FILE
from mlops_cli.errors import OperationError, UsageError
from mlops_cli.files import write_atomically

LOCAL_PROFILE = Path(__file__).resolve().parents[1] / "config" / "local.yaml"
DEFAULT_LOCAL_URL = "http://127.0.0.1:4599"
FIRST_LINE = "# This project's mlops config, written by `mlops init --local` (`--force` rewrites it; edit it freely)."
HEADER = (
    f"{FIRST_LINE}\n"
    "# `mlops` reads it from this folder and every folder below when no -c/MLOPS_CONFIG names a config; the local\n"
    f"# AWS's state and credentials live in {HOME_FOLDER}/ beside it. It may include other configs first:\n"
    "#   include: [configs/extra.yaml]    (relative to this file; this file's own keys win)\n"
)


def local_project_text(port: int) -> str:
    """The shipped local profile on `port`, under the header that marks it as written here."""
    profile = LOCAL_PROFILE.read_text(encoding="utf-8")
    line = f"endpoint_url: {DEFAULT_LOCAL_URL}"
    if profile.count(line) != 1:  # the profile and this function must agree on where the endpoint is
        raise OperationError(f"{LOCAL_PROFILE}: expected one '{line}' line to set the port in")
    return HEADER + profile.replace(line, f"endpoint_url: http://127.0.0.1:{port}")


def write_local_project(folder: Path, port: int, force: bool) -> Path:
    """Write `folder/mlops.yaml` for the local AWS on `port`; refuse to replace one (one this wrote: unless
    `force`; any other: always)."""
    if not 1024 <= port <= 65535:
        raise UsageError(f"--port: expected a port from 1024 to 65535, got {port}")
    target = folder / PROJECT_FILE
    if target.exists() or target.is_symlink():
        if not _written_here(target):
            raise UsageError(
                f"{target} exists and `mlops init` did not write it: left as it is",
                hint="edit it, or move it away and run `mlops init --local` again",
            )
        if not force:
            raise UsageError(f"{target} exists: left as it is", hint="--force rewrites it (it was written by init)")
    text = local_project_text(port)
    try:
        write_atomically(target, lambda stream: stream.write(text.encode("utf-8")))
    except OSError as exc:
        raise OperationError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


def _written_here(target: Path) -> bool:
    if target.is_symlink() or not target.is_file():
        return False
    try:
        with open(target, encoding="utf-8") as stream:
            return stream.readline().rstrip("\n") == FIRST_LINE
    except (OSError, UnicodeDecodeError):
        return False
