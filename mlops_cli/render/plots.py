"""PNG plot files (`loadtest --plot`, `tune --plot`): the path checked before any work, the figure written whole.

A plot this tool wrote carries its name in the PNG's Software text chunk; an existing file is replaced only when
it carries it, so `--plot` never overwrites a user's own image, a symlink or anything that is not a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_cli.errors import UsageError
from mlops_cli.files import existing_head, write_atomically

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
    head = existing_head(path, "--plot", MAX_SCANNED_BYTES)
    if head is not None and not _written_by_us(head):
        raise UsageError(f"--plot {path}: the file exists and is not a plot written by mlops; name a new file")


def save_plot(figure: Any, path: Path) -> None:
    write_atomically(path, lambda stream: figure.savefig(stream, format="png", metadata={"Software": SOFTWARE}))


def _written_by_us(head: bytes) -> bool:
    """Whether the PNG's text chunks, read without decoding the image, name this tool as the writer."""
    import struct

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
