"""The local side of an upload: which files a folder holds (and which it must not upload), and their SHA-256."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from mlops_cli.errors import UsageError

HASH_BLOCK = 1024 * 1024


@dataclass
class LocalFile:
    relative: str  # '/'-separated path inside the source folder
    path: Path  # where to read it (a symlink's target inside the folder)
    size: int
    mtime_ns: int
    sha256: str = ""  # hex, filled by the planner (from the hash cache or by reading the file)


@dataclass
class SourceTree:
    root: Path
    files: list[LocalFile]
    # (path inside the folder, why) for what is not uploaded and not hidden: symlinks that leave the folder,
    # dangle or loop, FIFOs/devices/sockets, names that cannot be S3 keys (control characters, not UTF-8)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def open_source(path: Path) -> BinaryIO:
    """How uploads read a file. A test seam: tests swap it for a reader that returns other bytes."""
    return open(path, "rb")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def b64_sha256(data: bytes) -> str:
    """A SHA-256 as S3's ChecksumSHA256 header carries it (base64 of the raw digest)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def hex_to_b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def b64_to_hex(b64_digest: str) -> str:
    return base64.b64decode(b64_digest).hex()


def name_problem(name: str) -> str | None:
    """Why a file or folder name cannot be part of an S3 key, or None. Checked once, at the scan, so the
    dry-run plan and the upload list exactly the same keys."""
    from mlops_cli.config.aws_rules import key_problem

    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8, so it cannot be an S3 key"
    problem = key_problem(name)
    return f"its name cannot be an S3 key: {problem}" if problem else None


def scan_source(src: Path) -> SourceTree:
    """Every regular file under `src`, sorted, without hidden files/folders (name starts with '.').

    Symlinks are followed only while they stay inside `src` (and never back into a folder that contains
    them, which would loop); the others, anything that is not a regular file or folder, and names that cannot
    be keys are reported in `skipped`.
    """
    if not src.exists():
        raise UsageError(f"source folder '{src}' does not exist")
    if not src.is_dir():
        raise UsageError(f"source '{src}' is not a folder")
    root = src.resolve()
    tree = SourceTree(root, [])
    pending = [(root, "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except OSError as exc:
            raise UsageError(f"cannot read folder '{directory}': {exc.strerror}") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = prefix + entry.name
            problem = name_problem(entry.name)
            if problem:
                tree.skipped.append((relative, problem))
                continue
            if entry.is_symlink():
                try:
                    path = Path(entry.path).resolve(strict=True)
                except RuntimeError:  # Python 3.11 reports a symlink loop so
                    tree.skipped.append((relative, "a symlink loop"))
                    continue
                except OSError:
                    tree.skipped.append((relative, "a symlink that points nowhere"))
                    continue
                if not path.is_relative_to(root) or directory.is_relative_to(path):
                    tree.skipped.append(
                        (
                            relative,
                            "a symlink that points outside the source folder (or back into a folder that contains it)",
                        )
                    )
                    continue
                is_dir, is_file = path.is_dir(), path.is_file()
            else:  # DirEntry answers these from the directory listing: no extra system calls
                path = Path(entry.path)
                is_dir, is_file = entry.is_dir(follow_symlinks=False), entry.is_file(follow_symlinks=False)
            if is_dir:
                pending.append((path, relative + "/"))
            elif is_file:
                stat = path.stat() if entry.is_symlink() else entry.stat(follow_symlinks=False)
                tree.files.append(LocalFile(relative, path, stat.st_size, stat.st_mtime_ns))
            else:
                tree.skipped.append((relative, "not a regular file (a FIFO, device or socket)"))
    if not tree.files:
        raise UsageError(f"source folder '{src}' has no files to upload (hidden files are never uploaded)")
    tree.files.sort(key=lambda item: item.relative)
    return tree
