"""Folders a command writes into: only new or empty ones, or its own earlier output (marked by a file it
leaves there), so nothing of the user's is ever overwritten or deleted."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mlops_cli.errors import UsageError


def check_owned(folder: Path, marker: str, command: str, own_entries: set[str]) -> None:
    """Refuse (exit 2, naming the folder as given) anything but a new or empty folder, or one holding `marker`
    and nothing but `own_entries`."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise UsageError(f"'{folder}' is not a folder: `{command}` writes only into a new or empty folder")
    if not folder.exists():
        return
    try:
        entries = {entry.name for entry in os.scandir(folder)}
    except OSError as exc:
        raise UsageError(f"cannot read folder '{folder}': {exc.strerror or exc}") from None
    if not entries:
        return
    if marker not in entries:
        raise UsageError(
            f"'{folder}' is not empty and was not written by `{command}`; nothing was changed "
            "(give a new or empty folder)"
        )
    foreign = sorted(entries - {marker, *own_entries})
    if foreign:
        raise UsageError(
            f"'{folder}' holds the output of `{command}` and also '{foreign[0]}', which it did not "
            "write; nothing was changed"
        )


def claim(folder: Path, marker: str, command: str) -> None:
    """Create the folder (and parents) and mark it as this command's output."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / marker).write_text(json.dumps({"written_by": command}) + "\n")
