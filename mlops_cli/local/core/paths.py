"""Filesystem paths of the local AWS: kept inside the folder they belong to, and private.

Every path the local AWS builds from a name, key or setting in a request goes through `confined`: it is
resolved (`..`, symlinks, absolute parts) and must lie strictly inside its root, or the request is refused.
The folders it keeps its state in are made with `private_folder`: owner-only whatever the umask.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlops_cli.local.core.names import InvalidRequest


def confined(root: Path, *parts: str) -> Path:
    """`root/parts...` resolved; InvalidRequest when it is `root` itself or lies outside it."""
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if base not in path.parents:
        shown = "/".join(parts)
        raise InvalidRequest(f"'{shown}' does not name a location inside {root.name}/ (no '..', no absolute paths)")
    return path


def private_folder(path: Path) -> Path:
    """`path` as an owner-only folder (0700), whatever the umask: made with any missing parents (each 0700), and
    set 0700 when it already exists. Parents that exist are left as they are (they may be the user's)."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another `local up`
            pass
        os.chmod(folder, 0o700)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """A descriptor of `path` opened with `flags`, the file owner-only (0600) whatever the umask or its old mode."""
    descriptor = os.open(path, flags, 0o600)
    os.fchmod(descriptor, 0o600)
    return descriptor
