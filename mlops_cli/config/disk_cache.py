"""Entries the CLI keeps in the home's `cache/` folder to skip work an earlier run already did (a validated config,
the derived permissions). An entry is one JSON file, written atomically and owner-only; a cache that cannot be
read or written only costs the next run the time, never an error.

The folder is used only when it is a real folder of this user's (not a link to elsewhere), and old entries are
pruned only in a folder that carries the marker written when this module made it: the prune never deletes files
the tool did not create.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

MARKER = ".made-by-mlops"


def folder() -> Path:
    from mlops_cli.config.project import mlops_home

    return mlops_home() / "cache"


def _usable(where: Path) -> bool:
    try:
        found = os.lstat(where)
    except OSError:
        return False
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid()


def load(name: str) -> Any:
    """The entry's data, or None when there is none or it cannot be read."""
    where = folder()
    if not _usable(where):
        return None
    try:
        descriptor = os.open(where / f"{name}.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                return None
            return json.loads(stream.read())
    except (OSError, ValueError):
        return None


def store(name: str, data: Any, prefix: str, keep: int) -> None:
    """Keep `data` as entry `name`, and only the `keep` newest entries whose names start with `prefix`."""
    from mlops_cli.files import write_atomically

    text = json.dumps(data).encode("utf-8")
    where = folder()
    try:
        if not os.path.lexists(where):
            where.mkdir(parents=True, mode=0o700)
            (where / MARKER).write_text("made by mlops: entries here are pruned by it\n")
        if not _usable(where):
            return
        write_atomically(where / f"{name}.json", lambda stream: stream.write(text))
        if not (where / MARKER).is_file():
            return
        entries = [path for path in where.glob(f"{prefix}*.json") if stat.S_ISREG(path.lstat().st_mode)]
        entries.sort(key=lambda path: path.lstat().st_mtime_ns)
        for stale in entries[:-keep]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass
