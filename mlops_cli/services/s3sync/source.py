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
    skipped_links: list[str] = field(default_factory=list)  # symlinks that leave the folder or dangle


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


def scan_source(src: Path) -> SourceTree:
    """Every regular file under `src`, sorted, without hidden files/folders (name starts with '.').

    Symlinks are followed only while they stay inside `src` (and never back into a folder that contains
    them, which would loop); the others are reported in `skipped_links`.
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
            if entry.is_symlink():
                path = Path(entry.path).resolve()
                if not path.exists() or not path.is_relative_to(root) or directory.is_relative_to(path):
                    tree.skipped_links.append(relative)
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
    if not tree.files:
        raise UsageError(f"source folder '{src}' has no files to upload (hidden files are never uploaded)")
    tree.files.sort(key=lambda item: item.relative)
    return tree
