"""Filesystem paths derived from requests to the local AWS, kept inside the folder they belong to.

Every path the local AWS builds from a name, key or setting in a request goes through `confined`: it is
resolved (`..`, symlinks, absolute parts) and must lie strictly inside its root, or the request is refused.
"""

from __future__ import annotations

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
