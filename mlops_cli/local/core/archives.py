"""The one way the local AWS unpacks an archive it was handed (a model.tar.gz, a training source package, a
Lambda zip): every member checked before anything of it is written, into a fresh owner-only folder.

The interpreter's own protection is not relied on: tarfile's `data` filter can be bypassed on the Python this
runs on (CVE-2025-4517, fixed in 3.11.13/3.12.11: a chain of long-named directories and symlinks escapes it),
and `zipfile.extractall` keeps symlinks' targets but never looks at where they point. Here a member is refused
when its name is absolute, has a `..` segment or a NUL, when it is a device, FIFO or anything but a file, a
directory or a link, when it would be written through a symlink, and when a link (symbolic or hard) resolves
outside the folder: resolved step by step against what is already extracted, and every symlink once more
against the finished tree (a later member can change what an earlier link's path means). The member count,
the total unpacked size and the ratio of unpacked to packed bytes are bounded, so an archive bomb stops at the
limit. Nothing is left behind on a refusal: the members go into a temporary folder beside the destination that
becomes the destination only when all of them passed.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MiB, GiB = 1024**2, 1024**3
_CHUNK = 1 * MiB
_MAX_LINK_HOPS = 40  # what Linux allows in one path lookup (MAXSYMLINKS)
_MAX_LINK_TARGET = 4096  # PATH_MAX: no longer target can be made (a zip's symlink member holds it as data)
# tarfile reads a long-name or pax header whole into memory, before any member reaches this module's checks.
_EXTENDED_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE)
_MAX_EXTENDED_HEADER = 1 * MiB
_MAX_EXTENDED_CHAIN = 8  # a member has at most a global and a local pax header, a long name and a long link name


class UnsafeArchive(Exception):
    """The archive is refused; the message names the member and why (one line)."""


@dataclass(frozen=True)
class Limits:
    """What one archive may unpack to. A ratio above `max_ratio` is refused once the unpacked size passes
    `ratio_floor` (small archives of text reach high ratios honestly: a tar pads every member to 512 bytes)."""

    max_members: int = 100_000
    max_bytes: int = 20 * GiB  # SageMaker's model.tar.gz may be large; a local disk is the real bound
    max_ratio: int = 100
    ratio_floor: int = 16 * MiB


@dataclass(frozen=True)
class _Member:
    name: str
    kind: str  # "file" | "dir" | "symlink" | "hardlink"
    size: int = 0
    link: str = ""
    executable: bool = False
    open: Callable[[], IO[bytes]] | None = None


def extract_tar(archive: Path | bytes, destination: Path, limits: Limits = Limits()) -> None:
    """A tar archive (any compression tarfile reads) into `destination`, which must not exist yet."""
    packed = len(archive) if isinstance(archive, bytes) else archive.stat().st_size
    bounded = _bounded_headers(max(limits.ratio_floor, limits.max_ratio * packed))
    try:
        source = (
            tarfile.open(fileobj=io.BytesIO(archive), tarinfo=bounded)
            if isinstance(archive, bytes)
            else tarfile.open(archive, tarinfo=bounded)
        )
        with source as tar:
            _extract(_tar_members(tar), destination, packed, limits)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:  # zlib/gzip errors are OSError or ValueError
        raise UnsafeArchive(f"cannot be unpacked: {' '.join(str(exc).split()) or type(exc).__name__}") from None


def extract_zip(archive: bytes, destination: Path, limits: Limits = Limits()) -> None:
    """A zip archive into `destination`, which must not exist yet."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as source:
            _extract(_zip_members(source), destination, len(archive), limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise UnsafeArchive(
            f"is not a zip archive that can be unpacked: {' '.join(str(exc).split()) or type(exc).__name__}"
        ) from None


def _bounded_headers(ceiling: int) -> type[tarfile.TarInfo]:
    """A TarInfo that refuses, before tarfile reads them:
    - an extended header (long name, pax) larger than _MAX_EXTENDED_HEADER or reaching past `ceiling` unpacked
      bytes: one such header of a gigabyte packs into a megabyte, and pax global headers accumulate in memory for
      the whole archive;
    - more than _MAX_EXTENDED_CHAIN extended headers in a row: tarfile reads each next header recursively, so a few
      hundred of them (a few hundred bytes packed) end in a RecursionError;
    - sparse members (GNU's old format and its pax forms): tarfile reads a sparse map whole into memory, and an
      old-format map of repeated 512-byte blocks takes several times its unpacked size (a 15 KB xz archive held
      900 MB) before any member reaches this module's checks. Nothing that packs models or code writes them
      (tarfile never does; GNU tar only with --sparse)."""
    chain = 0

    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
            nonlocal chain
            if self.type == tarfile.GNUTYPE_SPARSE:
                self._refuse_sparse(self)
            if self.type not in _EXTENDED_HEADERS:
                return super()._proc_member(tar)  # type: ignore[misc]
            if self.size > _MAX_EXTENDED_HEADER or self.offset + self.size > ceiling:
                raise UnsafeArchive(
                    f"has a {self.size:,}-byte extended header at unpacked byte {self.offset:,}: an archive bomb"
                )
            chain += 1
            try:
                if chain > _MAX_EXTENDED_CHAIN:
                    raise UnsafeArchive(
                        f"has more than {_MAX_EXTENDED_CHAIN} extended headers in a row at unpacked byte "
                        f"{self.offset:,}"
                    )
                return super()._proc_member(tar)  # type: ignore[misc]
            finally:
                chain -= 1

        def _refuse_sparse(self, member: tarfile.TarInfo, *_: Any) -> None:
            raise UnsafeArchive(f"member {_shown(member.name)} is a sparse file")

        # tarfile's handlers of the pax sparse formats (0.0, 0.1, 1.0), called with the member they describe.
        _proc_gnusparse_00 = _proc_gnusparse_01 = _proc_gnusparse_10 = _refuse_sparse

    return BoundedTarInfo


def _tar_members(tar: tarfile.TarFile) -> Iterator[_Member]:
    for info in tar:
        if info.isreg():
            yield _Member(info.name, "file", info.size, "", bool(info.mode & 0o111), _opener(tar, info))
        elif info.isdir():
            yield _Member(info.name, "dir")
        elif info.issym():
            yield _Member(info.name, "symlink", link=info.linkname)
        elif info.islnk():
            yield _Member(info.name, "hardlink", link=info.linkname)
        else:
            kind = "a device file" if info.ischr() or info.isblk() else "a FIFO" if info.isfifo() else "not a file"
            raise UnsafeArchive(f"member {_shown(info.name)} is {kind}")


def _opener(tar: tarfile.TarFile, info: tarfile.TarInfo) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        handle = tar.extractfile(info)
        assert handle is not None  # a regular member always has one
        return handle

    return open_member


def _zip_members(source: zipfile.ZipFile) -> Iterator[_Member]:
    for info in source.infolist():
        mode = info.external_attr >> 16  # the Unix mode, when a Unix zip tool wrote the entry (else 0)
        kind = stat.S_IFMT(mode)
        if info.flag_bits & 0x1:  # zipfile would raise RuntimeError ("password required") on reading it
            raise UnsafeArchive(f"member {_shown(info.filename)} is encrypted")
        if info.is_dir():
            yield _Member(info.filename, "dir")
        elif kind == stat.S_IFLNK:
            with source.open(info) as data:  # read no more than a target can be: the member may be a bomb
                target = data.read(_MAX_LINK_TARGET + 1).decode("utf-8", "replace")
            if len(target) > _MAX_LINK_TARGET:
                raise UnsafeArchive(f"member {_shown(info.filename)} is a link to a target longer than PATH_MAX")
            yield _Member(info.filename, "symlink", link=target)
        elif kind not in (0, stat.S_IFREG):
            what = (
                "a FIFO" if kind == stat.S_IFIFO else "a device file" if kind in (stat.S_IFCHR, stat.S_IFBLK) else None
            )
            raise UnsafeArchive(f"member {_shown(info.filename)} is {what or 'not a file'}")
        else:
            yield _Member(info.filename, "file", info.file_size, "", bool(mode & 0o111), _zip_opener(source, info))


def _zip_opener(source: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: source.open(info)


def _extract(members: Iterator[_Member], destination: Path, packed: int, limits: Limits) -> None:
    if destination.exists() or destination.is_symlink():
        raise UnsafeArchive(f"{destination.name} already exists")  # a caller's mistake: never unpack over anything
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}.unpacking-"))  # 0700
    try:
        _Unpacker(staging, packed, limits).run(members)
        os.rename(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class _Unpacker:
    def __init__(self, root: Path, packed: int, limits: Limits):
        self.root, self.packed, self.limits = root, max(packed, 1), limits
        self.count = self.total = 0
        self.symlinks: list[tuple[str, list[str]]] = []

    def run(self, members: Iterator[_Member]) -> None:
        for member in members:
            self.count += 1
            if self.count > self.limits.max_members:
                raise UnsafeArchive(f"more than {self.limits.max_members:,} members")
            parts = _parts(member.name)
            try:
                if member.kind == "dir":
                    self._directory(parts, member.name)
                elif member.kind == "symlink":
                    self._symlink(parts, member)
                else:
                    self._file(parts, member)
            except OSError as exc:  # e.g. a path too long for this file system: the member, not the whole path
                raise UnsafeArchive(f"member {_shown(member.name)} cannot be unpacked: {exc.strerror or exc}") from None
        for name, parts in self.symlinks:  # the finished tree: what every link points at now
            if self._resolve(parts) is None:
                raise UnsafeArchive(f"member {_shown(name)} is a link that resolves outside the archive's folder")

    def _grow(self, size: int, name: str) -> None:
        self.total += size
        if self.total > self.limits.max_bytes:
            raise UnsafeArchive(f"unpacks to more than {self.limits.max_bytes:,} bytes (at member {_shown(name)})")
        if self.total > self.limits.ratio_floor and self.total > self.limits.max_ratio * self.packed:
            raise UnsafeArchive(
                f"unpacks to more than {self.limits.max_ratio} times its size ({self.packed:,} bytes packed, "
                f"{self.total:,} unpacked at member {_shown(name)}): an archive bomb"
            )

    def _directory(self, parts: list[str], name: str) -> Path:
        """`parts` as real directories (made 0700 where missing); never through a symlink."""
        path = self.root
        for part in parts:
            path = path / part
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                path.mkdir(mode=0o700)
                continue
            if not stat.S_ISDIR(mode):
                raise UnsafeArchive(
                    f"member {_shown(name)} would be written through {_shown(str(path.relative_to(self.root)))}, "
                    "which is not a directory (a link or a file)"
                )
        return path

    def _place(self, parts: list[str], name: str) -> Path:
        """The path for a new entry: its parent a real directory, any entry already there removed (a later member
        of the same name replaces an earlier one, as tar does); a directory there is refused."""
        if not parts:
            raise UnsafeArchive(f"member {_shown(name)} names the archive's folder itself")
        path = self._directory(parts[:-1], name) / parts[-1]
        try:
            if stat.S_ISDIR(path.lstat().st_mode):
                raise UnsafeArchive(f"member {_shown(name)} would replace a directory")
            path.unlink()
        except FileNotFoundError:
            pass
        return path

    def _symlink(self, parts: list[str], member: _Member) -> None:
        if len(member.link) > _MAX_LINK_TARGET:  # before it is resolved: that takes time with its length squared
            raise UnsafeArchive(f"member {_shown(member.name)} is a link to a target longer than PATH_MAX")
        if member.link.startswith("/") or "\x00" in member.link or not member.link:
            raise UnsafeArchive(f"member {_shown(member.name)} is a link to an absolute path ({_shown(member.link)})")
        target = [*parts[:-1], *member.link.split("/")]
        if self._resolve(target) is None:
            raise UnsafeArchive(f"member {_shown(member.name)} is a link that resolves outside the archive's folder")
        os.symlink(member.link, self._place(parts, member.name))
        self.symlinks.append((member.name, target))

    def _file(self, parts: list[str], member: _Member) -> None:
        if member.kind == "hardlink":
            source = self._resolve(_parts(member.link, member.name))
            if source is None or not stat.S_ISREG(os.lstat(source).st_mode):
                raise UnsafeArchive(
                    f"member {_shown(member.name)} is a hard link to {_shown(member.link)}, not a file inside "
                    "the archive's folder"
                )
            opener: Callable[[], IO[bytes]] = lambda: open(source, "rb")  # noqa: E731 (a copy, never a link)
            size = os.lstat(source).st_size
        else:
            assert member.open is not None
            opener, size = member.open, member.size
        self._grow(size, member.name)
        path = self._place(parts, member.name)
        mode = 0o700 if member.executable else 0o600
        written = 0
        with (
            opener() as data,
            open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode), "wb") as out,
        ):
            while chunk := data.read(_CHUNK):
                written += len(chunk)
                if written > size:  # the member is longer than it said
                    raise UnsafeArchive(f"member {_shown(member.name)} is larger than its header says")
                out.write(chunk)

    def _resolve(self, parts: list[str]) -> Path | None:
        """Where `parts` (relative to the root) leads in the tree as it is now, following its symlinks as the
        kernel would; None when it leaves the root (or loops). Missing components are taken literally."""
        pending, current, hops = list(parts), list[str](), 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not current:
                    return None
                current.pop()
                continue
            path = self.root.joinpath(*current, part)
            if path.is_symlink():
                hops += 1
                link = os.readlink(path)
                if hops > _MAX_LINK_HOPS or link.startswith("/"):
                    return None
                pending = link.split("/") + pending
                continue
            current.append(part)
        return self.root.joinpath(*current)


def _shown(name: str) -> str:
    """A member's name for a message: quoted, and cut in the middle when long (names may be kilobytes)."""
    return repr(name if len(name) <= 120 else f"{name[:60]}…{name[-50:]}")


def _parts(name: str, member: str | None = None) -> list[str]:
    """The member's path as segments; refused when absolute, with `..`, or with a NUL."""
    shown = member or name
    if "\x00" in name:
        raise UnsafeArchive(f"member {_shown(shown)} has a NUL in its name")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[0].isalpha() and name[1] == ":"):
        raise UnsafeArchive(f"member {_shown(shown)} has an absolute path")
    parts = [part for part in name.replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"member {_shown(shown)} has a '..' segment")
    return parts
