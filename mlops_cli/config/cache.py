"""Validated configs remembered across runs, so `config validate` and `config show` skip pydantic and YAML.

Building the schema and validating costs more than the rest of such a command (pydantic's import and model build,
YAML, botocore's instance types: ~0.2 s on the 2-core machine). Like Python's bytecode cache, an entry is keyed by
what decides the answer (the named config files' paths and text, the config variables, the flags, the
current folder) and records
what else did: every config file read (the included ones too) by the hash of its text, and every source file
loaded when it was validated by size and modification time. When any of them changes (an edited include, an
upgrade, an edited validator) the entry no longer counts. Only valid configs are kept: a bad one is validated
afresh each time, so its error is the schema's own.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from collections.abc import Mapping
from typing import Any

PREFIX = "config-"
MAX_ENTRIES = 32  # distinct configs remembered; the oldest go first
# Packages whose data decide validity although validation may not import them (the aws-values cache).
_UNIMPORTED_SOURCES = ("botocore",)
# The schema's source: every entry written after a validation records it (by size and modification time, which a
# file written by anyone but that validation cannot know), so an entry without it is not one of ours.
_SCHEMA = os.path.join(os.path.dirname(__file__), "schema.py")


def key(texts: list[tuple[str, str]], env: Mapping[str, str], flags: Mapping[str, Any]) -> str:
    """One hash of the inputs; values keep their types (`5` and `"5"` differ, as they do to the schema). The
    current folder too (relative names and includes mean other files elsewhere), and which mlops validates (another
    checkout or venv may share the project's home)."""
    from mlops_cli import __version__

    inputs = {
        "files": texts,
        "env": dict(env),
        "flags": dict(flags),
        "cwd": os.getcwd(),
        "mlops": [__version__, _SCHEMA, sys.executable],
    }
    material = json.dumps(inputs, sort_keys=True, default=repr)
    return PREFIX + hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _digest(path: str) -> str | None:
    """The sha256 of a config file's bytes; None for anything but a regular file within the config size limit."""
    from mlops_cli import documents

    if not regular_file(path):
        return None
    try:
        with open(path, "rb") as stream:
            data = stream.read(documents.CONFIG.max_bytes + 1)
    except OSError:
        return None
    return hashlib.sha256(data).hexdigest() if len(data) <= documents.CONFIG.max_bytes else None


def _stat(path: str) -> list[int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return [found.st_mtime_ns, found.st_size]


def _loaded_sources() -> dict[str, list[int] | None]:
    """The source files of every module loaded now outside the standard library, and of _UNIMPORTED_SOURCES."""
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


def read(entry: str) -> tuple[dict[str, Any], list[str]] | None:
    """(validated values, config files read) stored under `entry`; None when absent, unreadable or stale."""
    from mlops_cli.config import disk_cache

    kept = disk_cache.load(entry)
    try:
        sources, files, values, read_files = kept["sources"], kept["files"], kept["values"], kept["read"]
        if _SCHEMA not in sources or any(_stat(file) != stamp for file, stamp in sources.items()):
            return None
        if any(_digest(file) != digest for file, digest in files.items()):
            return None
    except (KeyError, TypeError, AttributeError):
        return None
    if not isinstance(values, dict) or not isinstance(read_files, list):
        return None
    return values, read_files


def write(entry: str, values: dict[str, Any], read_files: list[str], digests: dict[str, str]) -> None:
    """Remember `values` (just validated), the config files read and the hash of the text each one had."""
    from mlops_cli.config import disk_cache

    kept = {"sources": _loaded_sources(), "files": digests, "values": values, "read": read_files}
    disk_cache.store(entry, kept, PREFIX, MAX_ENTRIES)
