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


def existing_head(path: Path, flag: str, size: int) -> bytes | None:
    """Before a command writes `path` (given as `flag`): None when nothing is there yet, else the file's first
    `size` bytes, for the caller to tell whether it wrote the file itself. Refuses (exit 2) a missing folder, a
    symlink, a folder or anything that is not a regular file: the tool never replaces those."""
    import stat

    from mlops_cli.errors import UsageError

    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: no such folder {path.parent}")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot be checked ({exc.strerror or exc})") from None
    if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
        kind = "a symlink" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise UsageError(f"{flag} {path}: {kind}; name a new file")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as stream:
            return stream.read(size)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot be read ({exc.strerror or exc})") from None
