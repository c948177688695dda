"""What this machine remembers between uploads, in one SQLite file under MLOPS_HOME.

- `file_hashes`: SHA-256 of a local file keyed by (path, size, mtime_ns), so unchanged files are not re-read.
- `uploaded`: key -> (sha256, size, etag) of every object this machine uploaded or verified. A row is trusted
  only while the bucket listing shows the same size and ETag, so a re-run with no change needs one listing
  and no per-object request, whatever the ETag is (multipart ETags are not MD5s).
- `multipart`: multipart uploads in flight, so a run killed outright (no chance to abort) has its
  leftovers aborted by the next run.

Each finished file is committed at once (a SQLite transaction), so an interrupted upload resumes where it
stopped. All methods may be called from worker threads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from mlops_cli.services.s3sync.source import LocalFile

STATE_FILE = "upload-state.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_hashes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT);
CREATE TABLE IF NOT EXISTS uploaded (endpoint TEXT, bucket TEXT, key TEXT, sha256 TEXT, size INTEGER, etag TEXT,
                                     PRIMARY KEY (endpoint, bucket, key));
CREATE TABLE IF NOT EXISTS multipart (endpoint TEXT, bucket TEXT, key TEXT, upload_id TEXT PRIMARY KEY, pid INTEGER);
"""


class RemoteRecord(NamedTuple):
    sha256: str
    size: int
    etag: str


class PendingMultipart(NamedTuple):
    key: str
    upload_id: str


def _prefix_range(prefix: str) -> tuple[str, str]:
    """Bounds of every string that starts with `prefix`, for an indexed range query."""
    return prefix, prefix + "\U0010ffff"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SyncState:
    def __init__(self, home: Path, endpoint: str, bucket: str):
        home.mkdir(parents=True, exist_ok=True)
        self.endpoint, self.bucket = endpoint, bucket
        self._lock = threading.Lock()
        self._db = sqlite3.connect(home / STATE_FILE, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: commits survive a killed process
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SyncState:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def fill_cached_hashes(self, root: Path, files: Iterable[LocalFile]) -> None:
        """Set `sha256` on every file whose (path, size, mtime_ns) matches a remembered hash."""
        with self._lock:
            rows = self._db.execute(
                "SELECT path, size, mtime_ns, sha256 FROM file_hashes WHERE path >= ? AND path < ?",
                _prefix_range(f"{root}/"),
            ).fetchall()
        known = {path: (size, mtime_ns, sha256) for path, size, mtime_ns, sha256 in rows}
        for file in files:
            cached = known.get(str(file.path))
            if cached and cached[:2] == (file.size, file.mtime_ns):
                file.sha256 = cached[2]

    def remember_hashes(self, files: Iterable[LocalFile]) -> None:
        rows = [(str(file.path), file.size, file.mtime_ns, file.sha256) for file in files if file.sha256]
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO file_hashes VALUES (?, ?, ?, ?)", rows)

    def uploaded(self, prefix: str) -> dict[str, RemoteRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, sha256, size, etag FROM uploaded WHERE endpoint = ? AND bucket = ? AND key >= ? AND "
                "key < ?",
                (self.endpoint, self.bucket, *_prefix_range(prefix)),
            ).fetchall()
        return {key: RemoteRecord(sha256, size, etag) for key, sha256, size, etag in rows}

    def record_upload(self, key: str, record: RemoteRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO uploaded VALUES (?, ?, ?, ?, ?, ?)", (self.endpoint, self.bucket, key, *record)
            )

    def forget(self, keys: Iterable[str]) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "DELETE FROM uploaded WHERE endpoint = ? AND bucket = ? AND key = ?",
                [(self.endpoint, self.bucket, key) for key in keys],
            )

    def multipart_started(self, key: str, upload_id: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO multipart VALUES (?, ?, ?, ?, ?)",
                (self.endpoint, self.bucket, key, upload_id, os.getpid()),
            )

    def multipart_ended(self, upload_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM multipart WHERE upload_id = ?", (upload_id,))

    def orphaned_multipart(self) -> list[PendingMultipart]:
        """Multipart uploads started by a process that is gone without completing or aborting them."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, upload_id, pid FROM multipart WHERE endpoint = ? AND bucket = ?",
                (self.endpoint, self.bucket),
            ).fetchall()
        return [PendingMultipart(key, upload_id) for key, upload_id, pid in rows if not _alive(pid)]
