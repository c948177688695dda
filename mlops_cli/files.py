"""Files the tool writes whole or not at all: written beside the target under a hidden temporary name, then
renamed over it, so a reader (or a crash) never sees half a file, and a failed write leaves nothing behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """`write(stream)` fills a temporary file in `path`'s folder, which then replaces `path` in one rename.
    OSError (e.g. a read-only folder) is the caller's to report; the temporary file never outlives the call."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
