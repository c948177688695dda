"""`--plot FILE.png` (loadtest, tune) replaces only a plot this tool wrote: never a user's own image, a symlink or
a folder; checked before any request is sent."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from mlops_cli.errors import UsageError
from mlops_cli.render.plots import check_plot_path, save_plot


def _png(text_chunks: list[bytes]) -> bytes:
    """A valid 1x1 PNG with the given tEXt chunk payloads before its image data."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    texts = b"".join(chunk(b"tEXt", payload) for payload in text_chunks)
    return b"\x89PNG\r\n\x1a\n" + header + texts + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1], [1, 0])
    return figure


def test_a_new_path_and_a_plot_mlops_wrote_are_accepted(tmp_path):
    path = tmp_path / "run.png"
    check_plot_path(path)
    save_plot(_figure(), path)
    check_plot_path(path)  # a second run replaces its own plot


@pytest.mark.parametrize(
    "content",
    [
        _png([]),  # a user's photo or chart
        _png([b"Software\x00matplotlib version3.10"]),  # a matplotlib plot of the user's own
        _png([b"Comment\x00Software\x00mlops plot"]),  # the marker inside another chunk is not ours
        b"not a png at all",
    ],
)
def test_an_existing_file_mlops_did_not_write_is_refused_and_kept(tmp_path, content):
    path = tmp_path / "chart.png"
    path.write_bytes(content)
    with pytest.raises(UsageError, match="not a plot written by mlops; name a new file"):
        check_plot_path(path)
    assert path.read_bytes() == content


def test_a_symlink_even_to_our_own_plot_and_a_folder_are_refused(tmp_path):
    ours = tmp_path / "ours.png"
    save_plot(_figure(), ours)
    link = tmp_path / "link.png"
    link.symlink_to(ours)
    with pytest.raises(UsageError, match="a symlink"):
        check_plot_path(link)
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(UsageError, match="a folder"):
        check_plot_path(folder)


def test_the_marker_is_checked_on_the_plot_actually_written(tmp_path):
    """Without the marker in what save_plot writes, the second run of the same command would be refused."""
    path: Path = tmp_path / "plot.png"
    save_plot(_figure(), path)
    assert b"tEXtSoftware\x00mlops plot" in path.read_bytes()[:65536]
