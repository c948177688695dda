"""The operations `config permissions` derives, kept on disk per version of the code and the config.

Deriving runs every command's planners offline through botocore clients, and loading their service models is
most of its time (about 2.5 s; EC2's model alone is megabytes of JSON). What it finds depends only on the code,
the config and botocore, so it is kept in $MLOPS_HOME/cache with a key hashing all three: any edit to a source
file or a config value, or another botocore, derives again. Only the newest entry is kept.
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


def _folder() -> Path:
    from mlops_cli.config.project import mlops_home

    return mlops_home() / "cache"


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
    from mlops_cli.files import write_atomically

    chosen = list(chosen)
    key = _key(config, chosen)
    entry = _folder() / f"{_PREFIX}{key}.json"
    try:
        kept = json.loads(entry.read_text())
        return {command: {(service, op) for service, op in sent} for command, sent in kept.items()}
    except (OSError, ValueError, TypeError):
        pass
    found = derive(config, chosen)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({command: sorted(sent) for command, sent in found.items()}).encode()
        write_atomically(entry, lambda out: out.write(text))
        for older in entry.parent.glob(f"{_PREFIX}*.json"):
            if older != entry:
                older.unlink(missing_ok=True)
    except OSError:  # a cache that cannot be written only costs the next run the time
        pass
    return found
