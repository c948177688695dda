"""The operations `config permissions` derives, kept on disk per version of the code and the config.

Deriving runs every command's planners offline through botocore clients, and loading their service models is
most of its time (about 2.5 s; EC2's model alone is megabytes of JSON). What it finds depends only on the code,
the config and botocore, so it is kept in the home's cache (mlops_cli.config.disk_cache) with a key hashing all three:
any edit to a source file or a config value, or another botocore, derives again. Only the newest entry is kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config
    from mlops_cli.plan import Operation

PACKAGE = Path(__file__).resolve().parents[1]
_PREFIX = "permissions-"


def _key(config: Config, chosen: list[str]) -> str:
    from importlib.metadata import version

    digest = hashlib.sha256(json.dumps([config.model_dump_json(), chosen, version("botocore")]).encode())
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix in (".py", ".json", ".sh") and path.is_file():
            digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def cached(
    config: Config, chosen: Iterable[str], derive: Callable[[Config, list[str]], dict[str, set[Operation]]]
) -> dict[str, set[Operation]]:
    """derive(config, chosen), or what it gave last time for the same code, config and commands."""
    from mlops_cli.config import disk_cache

    chosen = list(chosen)
    name = _PREFIX + _key(config, chosen)
    kept = disk_cache.load(name)
    if isinstance(kept, dict):
        try:
            return {command: {(service, op) for service, op in sent} for command, sent in kept.items()}
        except (TypeError, ValueError):
            pass
    found = derive(config, chosen)
    disk_cache.store(name, {command: sorted(sent) for command, sent in found.items()}, _PREFIX, keep=1)
    return found
