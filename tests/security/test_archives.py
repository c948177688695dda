"""Archives the local AWS unpacks (model.tar.gz, training source packages, Lambda zips), attacked.

Each attack aims at a sentinel folder beside the destination; after it, the archive is refused with a reason
naming the member, the sentinel is as it was, and nothing of the archive is left (not even a partial folder).
The symlink chain is CVE-2025-4517: on this Python (3.11.7) tarfile's own `data` filter lets it through.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from mlops_cli.local.core.archives import Limits, UnsafeArchive, extract_tar, extract_zip


def tar_of(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


def symlink_chain_archive(target: str) -> bytes:
    """CVE-2025-4517: 16 directories of 247-character names, each reachable by a one-letter link; a link through
    all of them back up (`../` x 16) that the filter cannot resolve past PATH_MAX; `escape` through it to
    `target`, then `escape/PWNED`."""
    long_name, steps, path = "d" * 247, "abcdefghijklmnop", ""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    for step in steps:
        members.append((entry(os.path.join(path, long_name), tarfile.DIRTYPE), None))
        members.append((entry(os.path.join(path, step), tarfile.SYMTYPE, long_name), None))
        path = os.path.join(path, long_name)
    link_path = os.path.join("/".join(steps), "l" * 254)
    members.append((entry(link_path, tarfile.SYMTYPE, "../" * len(steps)), None))
    members.append((entry("escape", tarfile.SYMTYPE, f"{link_path}/{target}"), None))
    members.append((entry("escape/PWNED", tarfile.REGTYPE), b"owned"))
    return tar_of(*members)


@pytest.fixture
def place(tmp_path: Path) -> tuple[Path, Path]:
    """(the destination, not there yet; the sentinel folder beside its parent, with one file)."""
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    (sentinel / "keep.txt").write_text("untouched")
    (tmp_path / "state").mkdir()
    return tmp_path / "state" / "model", sentinel


def assert_refused_and_untouched(call, place: tuple[Path, Path], *reason: str) -> str:
    destination, sentinel = place
    with pytest.raises(UnsafeArchive) as refused:
        call(destination)
    message = str(refused.value)
    assert all(part in message for part in reason), message
    assert sorted(p.name for p in sentinel.iterdir()) == ["keep.txt"]
    assert (sentinel / "keep.txt").read_text() == "untouched"
    assert list(destination.parent.iterdir()) == [], "nothing of a refused archive is left"
    return message


def test_the_symlink_chain_that_beats_tarfiles_filter_is_refused(place):
    destination, sentinel = place
    # From state/model (the destination), `../../sentinel` is the sentinel: what the chain's link reaches.
    archive = symlink_chain_archive("../../sentinel")
    message = assert_refused_and_untouched(lambda d: extract_tar(archive, d), place)
    assert "member 'a/b/c" in message or "member 'escape" in message


def test_the_same_chain_gets_through_pythons_own_filter_here(tmp_path):
    """Why the extractor does not rely on the interpreter: on this Python the data filter lets PWNED out."""
    import sys

    if sys.version_info >= (3, 11, 13):
        pytest.skip("this Python has the fix for CVE-2025-4517")
    (tmp_path / "state").mkdir()
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    with tarfile.open(fileobj=io.BytesIO(symlink_chain_archive("../../sentinel"))) as tar:
        try:
            tar.extractall(tmp_path / "state" / "model", filter="data")
        except (tarfile.TarError, OSError):
            pass
    assert (sentinel / "PWNED").exists()


@pytest.mark.parametrize(
    ("name", "reason"),
    [("/tmp/absolute-planted.py", "absolute path"), ("../../sentinel/planted.py", "'..' segment")],
    ids=["absolute", "dot-dot"],
)
def test_members_named_outside_are_refused(place, name, reason):
    archive = tar_of((entry("code/inference.py"), b"ok\n"), (entry(name), b"planted\n"))
    assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, reason)
    assert not Path("/tmp/absolute-planted.py").exists()


@pytest.mark.parametrize(
    "link",
    ["../../sentinel/keep.txt", "/etc/passwd", "code/../../../sentinel/keep.txt"],
    ids=["dot-dot", "absolute", "through-a-folder"],
)
def test_hard_links_out_of_the_folder_are_refused(place, link):
    archive = tar_of((entry("code/inference.py"), b"ok\n"), (entry("stolen", tarfile.LNKTYPE, link), None))
    assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, "'stolen'")


def test_a_hard_link_through_a_link_that_leads_out_is_refused(place):
    """No `..` in the hard link's own name: `out` -> `late/..` stayed inside until `late` -> `.` made it the
    parent; the hard link through `out` must be refused before the file outside is copied in."""
    archive = tar_of(
        (entry("out", tarfile.SYMTYPE, "late/.."), None),
        (entry("late", tarfile.SYMTYPE, "."), None),
        (entry("stolen", tarfile.LNKTYPE, "out/sentinel/keep.txt"), None),
    )
    assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, "'stolen'", "hard link")


def test_a_link_out_through_another_link_is_refused(place):
    """`up` -> `.` is harmless; `up/..` read as text is the folder, but through the link it is its parent."""
    archive = tar_of((entry("up", tarfile.SYMTYPE, "."), None), (entry("out", tarfile.SYMTYPE, "up/.."), None))
    assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, "'out'", "resolves outside")


def test_a_link_whose_meaning_a_later_member_changes_is_refused(place):
    """`late/..` is the folder itself while `late` does not exist; once `late` is a link to `.`, it is the
    parent. Links are checked again against the finished tree."""
    archive = tar_of(
        (entry("out", tarfile.SYMTYPE, "late/.."), None),
        (entry("late", tarfile.SYMTYPE, "."), None),
    )
    assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, "'out'", "resolves outside")


def test_writing_through_a_symlink_is_refused(place):
    archive = tar_of(
        (entry("inside", tarfile.DIRTYPE), None),
        (entry("alias", tarfile.SYMTYPE, "inside"), None),
        (entry("alias/file.py"), b"x"),
    )
    assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, "written through 'alias'")


@pytest.mark.parametrize(
    ("kind", "reason"),
    [(tarfile.CHRTYPE, "a device file"), (tarfile.BLKTYPE, "a device file"), (tarfile.FIFOTYPE, "a FIFO")],
    ids=["char-device", "block-device", "fifo"],
)
def test_device_files_and_fifos_are_refused(place, kind, reason):
    device = entry("code/null", kind)
    device.devmajor, device.devminor = 1, 3
    archive = tar_of((entry("code/inference.py"), b"ok\n"), (device, None))
    assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, "'code/null'", reason)


def test_a_bomb_is_refused_before_it_is_unpacked(place):
    """64 MiB of zeros gzip to about 64 KiB (1000:1): refused at the ratio, and its file never fills the disk."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = entry("weights.bin")
        info.size = 64 * 1024**2
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    archive = buffer.getvalue()
    assert len(archive) * 100 < 64 * 1024**2
    assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, "archive bomb", "'weights.bin'")


def test_member_count_and_total_size_are_bounded(place):
    many = tar_of(*[(entry(f"f{i}"), b"") for i in range(11)])
    assert_refused_and_untouched(lambda d: extract_tar(many, d, Limits(max_members=10)), place, "more than 10")
    big = tar_of((entry("a"), b"x" * 600), (entry("b"), b"y" * 600))
    assert_refused_and_untouched(lambda d: extract_tar(big, d, Limits(max_bytes=1000)), place, "'b'")


def test_not_an_archive_is_refused_in_one_line(place):
    message = assert_refused_and_untouched(lambda d: extract_tar(gzip.compress(b"not a tar"), d), place)
    assert "\n" not in message


def test_a_good_archive_unpacks_owner_only_with_its_inside_links(place):
    destination, _ = place
    previous = os.umask(0o022)
    try:
        extract_tar(
            tar_of(
                (entry("code", tarfile.DIRTYPE), None),
                (entry("code/inference.py"), b"def model_fn(d): pass\n"),
                (entry("code/again.py", tarfile.LNKTYPE, "code/inference.py"), None),
                (entry("current", tarfile.SYMTYPE, "code"), None),
                (entry("model.pth"), b"\x00weights"),
            ),
            destination,
        )
    finally:
        os.umask(previous)
    assert (destination / "current" / "inference.py").read_text() == "def model_fn(d): pass\n"
    assert (destination / "code" / "again.py").read_text() == "def model_fn(d): pass\n"
    for path in [destination, *destination.rglob("*")]:
        if not path.is_symlink():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def zip_of(*members: tuple[str, bytes, int]) -> bytes:
    """(name, data, unix mode) members; mode 0 writes no Unix attributes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


HANDLER = ("handler.py", b"def handler(event, context):\n    return 'ran'\n", 0o100644)


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (("../../sentinel/planted.py", b"planted", 0o100644), "'..' segment"),
        (("/tmp/zip-planted.py", b"planted", 0o100644), "absolute path"),
        (("out", b"../../sentinel", 0o120777), "resolves outside"),
        (("fifo", b"", 0o010644), "a FIFO"),
    ],
    ids=["zip-slip", "absolute", "symlink-out", "fifo"],
)
def test_zip_attacks_are_refused(place, member, reason):
    archive = zip_of(HANDLER, member)
    assert_refused_and_untouched(lambda d: extract_zip(archive, d), place, reason)
    assert not Path("/tmp/zip-planted.py").exists()


def test_a_zip_bomb_is_refused(place):
    archive = zip_of(HANDLER, ("zeros.bin", bytes(64 * 1024**2), 0o100644))
    assert_refused_and_untouched(lambda d: extract_zip(archive, d), place, "archive bomb")


def _peak_bytes(call) -> int:
    """The most memory Python objects held while `call` ran."""
    import tracemalloc

    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_a_zip_symlink_member_that_is_a_bomb_is_refused_without_reading_it(place):
    """A symlink's target is its member's data: 64 MiB of it (64 KiB packed) must not be read to find that out."""
    archive = zip_of(HANDLER, ("link", b"a" * (64 * 1024**2), 0o120777))
    peak = _peak_bytes(
        lambda: assert_refused_and_untouched(lambda d: extract_zip(archive, d), place, "'link'", "PATH_MAX")
    )
    assert peak < 8 * 1024**2, f"{peak:,} bytes held to read one link target"


def test_a_tar_long_name_header_that_is_a_bomb_is_refused_before_tarfile_reads_it(place):
    """tarfile reads a GNU long-name (or pax) header whole into memory before yielding a member: 64 MiB of name
    packs into 64 KiB."""
    header = tarfile.TarInfo("././@LongLink")
    header.type, header.size = tarfile.GNUTYPE_LONGNAME, 64 * 1024**2
    raw = header.tobuf(format=tarfile.USTAR_FORMAT) + b"a" * header.size + bytes(1024)
    archive = gzip.compress(raw + tarfile.TarInfo("x").tobuf() + bytes(1024))
    peak = _peak_bytes(
        lambda: assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, "extended header", "bomb")
    )
    assert peak < 8 * 1024**2, f"{peak:,} bytes held to read one header"


def old_gnu_sparse_archive(extension_blocks: int) -> bytes:
    """A GNU old-format sparse member whose map goes on for `extension_blocks` 512-byte blocks of 21 entries each,
    all alike: xz packs 10 MB of them into a few KB, and tarfile holds each entry as a tuple of two ints."""

    def octal(number: int) -> bytes:
        return b"%011o\0" % number

    info = entry("sparse.bin", tarfile.GNUTYPE_SPARSE)
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[482], header[483:495] = 1, octal(1)  # isextended; the real size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)  # the checksum, over the header with blanks in its place
    block = bytearray((octal(1) + octal(1)) * 21 + bytes(8))
    block[504] = 1  # another block follows
    import lzma

    return lzma.compress(bytes(header) + bytes(block) * extension_blocks + bytes(1536))


def pax_sparse_archive() -> bytes:
    """GNU's pax sparse format 1.0: the map (a count, then offset and size lines) at the start of the data."""
    sparse_map = b"2\n0\n1\n9\n1\n"
    data = sparse_map + bytes(-len(sparse_map) % 512) + b"ab"
    info = entry("GNUSparseFile.0/weights.bin")
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "weights.bin",
        "GNU.sparse.realsize": "10",
    }
    info.size = len(data)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_a_sparse_map_bomb_is_refused_before_tarfile_reads_it(place):
    """20,000 map blocks (10 MB, a few KB packed) held about 90 MB in tarfile before any member reached the
    extractor; 200,000 of them, 15 KB packed, 900 MB."""
    archive = old_gnu_sparse_archive(20_000)
    assert len(archive) < 64 * 1024
    peak = _peak_bytes(
        lambda: assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, "'sparse.bin'", "sparse file")
    )
    assert peak < 24 * 1024**2, f"{peak:,} bytes held to read one sparse map"  # xz's own buffers are ~8 MB


def test_pax_sparse_members_are_refused(place):
    assert_refused_and_untouched(lambda d: extract_tar(pax_sparse_archive(), d), place, "sparse file")


def test_a_chain_of_extended_headers_is_refused_in_one_line(place):
    """tarfile reads the header after a long-name header recursively: 400 of them (2 KB packed) ended in a
    RecursionError, which no caller turned into the job's or endpoint's reason."""
    header = tarfile.TarInfo("././@LongLink")
    header.type, header.size = tarfile.GNUTYPE_LONGNAME, 100
    chained = (header.tobuf(format=tarfile.USTAR_FORMAT) + b"a" * 100 + bytes(412)) * 400
    archive = gzip.compress(chained + tarfile.TarInfo("x").tobuf() + bytes(1024))
    message = assert_refused_and_untouched(lambda d: extract_tar(archive, d), place, "extended headers in a row")
    assert "\n" not in message


def test_a_link_target_longer_than_path_max_is_refused_before_it_is_resolved(place):
    """A pax header may hold a link target of up to 1 MiB; 400,000 `./` (2 KB gzipped) took the extractor's
    step-by-step resolution 110 s of CPU, inside the local AWS for a source package."""
    import time

    link = entry("link", tarfile.SYMTYPE, "./" * 100_000 + "x")  # 4 s of CPU before, 400,000 110 s
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(link)
    started = time.process_time()
    assert_refused_and_untouched(lambda d: extract_tar(buffer.getvalue(), d), place, "'link'", "PATH_MAX")
    assert time.process_time() - started < 2


def test_an_encrypted_zip_member_is_refused_in_one_line(place):
    """zipfile raises RuntimeError (not one of its archive errors) for an encrypted member: it went past the
    extractor, and CreateFunction answered 500 InternalFailure with a traceback in the server's log."""
    raw = bytearray(zip_of(HANDLER))
    raw[6] |= 1  # the encryption flag, in the local header
    raw[raw.find(b"PK\x01\x02") + 8] |= 1  # and in the central directory
    message = assert_refused_and_untouched(lambda d: extract_zip(bytes(raw), d), place, "'handler.py'", "encrypted")
    assert "\n" not in message
