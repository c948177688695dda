"""PNG plot files (`loadtest --plot`, `tune --plot`): the path checked before any work, the figure written whole.

A plot this tool wrote carries its name in the PNG's Software text chunk; an existing file is replaced only when
it carries it, so `--plot` never overwrites a user's own image, a symlink or anything that is not a file."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from mlops_cli.errors import UsageError
from mlops_cli.files import write_atomically

PLOT_SUFFIXES = (".png",)
SOFTWARE = "mlops plot"  # the PNG tEXt chunk that marks a plot as ours
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SCANNED_BYTES = 64 * 1024  # matplotlib writes its text chunks before the image data


def check_plot_path(path: Path) -> None:
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--plot {path}: the plot is written as PNG; name it *.png")
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot needs matplotlib: pip install 'mlops[plot]'")
    if not path.parent.is_dir():
        raise UsageError(f"--plot {path}: no such folder {path.parent}")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"--plot {path}: cannot be checked ({exc.strerror or exc})") from None
    if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
        kind = "a symlink" if stat.S_ISLNK(mode) else "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise UsageError(f"--plot {path}: {kind}; name a new file")
    if not _written_by_us(path):
        raise UsageError(f"--plot {path}: the file exists and is not a plot written by mlops; name a new file")


def save_plot(figure: Any, path: Path) -> None:
    write_atomically(path, lambda stream: figure.savefig(stream, format="png", metadata={"Software": SOFTWARE}))


def _written_by_us(path: Path) -> bool:
    """Whether the PNG's text chunks, read without decoding the image, name this tool as the writer."""
    import os
    import struct

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as stream:
            head = stream.read(MAX_SCANNED_BYTES)
    except OSError:
        return False
    if not head.startswith(PNG_SIGNATURE):
        return False
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(head):
        length, kind = struct.unpack(">I4s", head[offset : offset + 8])
        data = head[offset + 8 : offset + 8 + length]
        if kind == b"tEXt" and data == b"Software\x00" + SOFTWARE.encode("latin-1"):
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        offset += 12 + length
    return False
