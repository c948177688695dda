"""Validated configs remembered across runs, so a command that only reads values skips pydantic and YAML.

Building the schema and validating costs more than the rest of a `config validate` (pydantic's import and model
build, YAML, botocore's instance types: ~0.2 s on the 2-core machine). Like Python's own bytecode cache, an entry
is keyed by everything that decides the answer (the config files' text, the MLOPS_*/AWS_* variables, the flags)
and records every source file that was loaded when it was validated, with its size and modification time: when
any of them changes (an upgrade, an edited validator) the entry no longer counts. Only valid configs are kept;
a bad one is validated afresh each time, so its error message is the schema's own.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MAX_ENTRIES = 32  # distinct configs remembered; the oldest go first
# Packages whose data decide validity although validation may not import them (the aws-values cache).
_UNIMPORTED_SOURCES = ("botocore",)


def _folder() -> Path:
    from mlops_cli.local.core.credentials import mlops_home

    return mlops_home() / "cache" / "config"


def key(texts: list[str], env: Mapping[str, str], overrides: Mapping[str, Any]) -> str:
    """One hash of all the inputs; values keep their types (`5` and `"5"` differ, as they do to the schema)."""
    material = json.dumps({"files": texts, "env": dict(env), "flags": dict(overrides)}, sort_keys=True, default=repr)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _stat(path: str) -> list[int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return [found.st_mtime_ns, found.st_size]


def _loaded_sources() -> dict[str, list[int] | None]:
    """The source files of every module loaded now outside the standard library, plus those of _UNIMPORTED_SOURCES."""
    from importlib.util import find_spec

    stdlib = os.path.dirname(os.__file__) + os.sep
    files = {
        file
        for module in list(sys.modules.values())
        if isinstance(file := getattr(module, "__file__", None), str)
        and (not file.startswith(stdlib) or "-packages" in file)
    }
    for name in _UNIMPORTED_SOURCES:
        spec = find_spec(name)
        if spec is not None and spec.origin:
            files.add(spec.origin)
    return {file: _stat(file) for file in sorted(files)}


def read(entry_key: str) -> dict[str, Any] | None:
    """The validated values stored under `entry_key`, or None when absent, unreadable or any source changed."""
    try:
        entry = json.loads((_folder() / f"{entry_key}.json").read_text(encoding="utf-8"))
        sources, values = entry["sources"], entry["values"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(sources, dict) or not isinstance(values, dict):
        return None
    if any(_stat(file) != stamp for file, stamp in sources.items()):
        return None
    return values


def write(entry_key: str, values: dict[str, Any]) -> None:
    """Remember `values` (already validated); a home that cannot be written only costs validation next time."""
    from mlops_cli.files import write_atomically

    text = json.dumps({"sources": _loaded_sources(), "values": values})
    folder = _folder()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(folder / f"{entry_key}.json", lambda stream: stream.write(text.encode("utf-8")))
        entries = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime_ns)
        for stale in entries[:-MAX_ENTRIES]:
            stale.unlink(missing_ok=True)
    except OSError:
        pass
