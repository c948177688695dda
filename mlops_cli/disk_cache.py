"""Entries the CLI keeps in the home's `cache/` folder to skip work an earlier run already did (a validated config,
the derived permissions). An entry is one JSON file, written atomically and owner-only; a cache that cannot be
read or written only costs the next run the time, never an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def folder() -> Path:
    from mlops_cli.config.project import mlops_home

    return mlops_home() / "cache"


def load(name: str) -> Any:
    """The entry's data, or None when there is none or it cannot be read."""
    try:
        return json.loads((folder() / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store(name: str, data: Any, prefix: str, keep: int) -> None:
    """Keep `data` as entry `name`, and only the `keep` newest entries whose names start with `prefix`."""
    from mlops_cli.files import write_atomically

    text = json.dumps(data).encode("utf-8")
    where = folder()
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(where / f"{name}.json", lambda stream: stream.write(text))
        entries = sorted(where.glob(f"{prefix}*.json"), key=lambda path: path.stat().st_mtime_ns)
        for stale in entries[:-keep]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass
