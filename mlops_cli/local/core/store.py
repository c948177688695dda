"""Durable state for the local AWS: a snapshot of moto's backends plus a write-ahead journal since it.

Every request that reaches moto and changes something (any method but GET/HEAD, minus the read operations of
the JSON and query protocols) is appended to `journal.log` when moto answers it with success, and fsynced before
the answer leaves (one fsync can cover several requests: group commit). What the hooks change beside moto (a
training job's status, an endpoint's, a scaling target they remove, Lambda provisioned concurrency) goes into
the same journal as a named change (`call`/`record`) that is replayed by the same function.

On start the last snapshot is loaded, the journal replayed into moto in order (moto's ids drawn from the seed
each request had, its clock set to the request's time), then a fresh snapshot is written and the journal
emptied; a clean stop writes one too. Object bodies over INLINE_MAX live in `blobs/<sha256>`, written and
fsynced before the request is journaled; the journal and snapshot keep their digest. Why this design, what it
costs: docs/local-aws.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import secrets
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from mlops_cli.local import moto_compat
from mlops_cli.local.core import redact, versions

JOURNAL = "journal.log"
SNAPSHOT = "snapshot.pickle"
STAMP = "versions.json"  # the mlops and moto versions that wrote the snapshot and journal beside it
BLOBS = "blobs"
INLINE_MAX = 16 * 1024  # bodies above this go to the blob store, not into the journal or snapshot
SNAPSHOT_EVERY = 5_000  # journal records; bounds the replay after a crash (~1,800 records took 22 s under load)
READ_OPERATIONS = (
    "Describe",
    "List",
    "Get",
    "Head",
    "Search",
    "Lookup",
    "Filter",
    "Simulate",
    "Query",
    "Scan",
    "BatchGet",
)
_HEADER = struct.Struct("<II")  # payload length, crc32
JOURNAL_OFF_ENV = "MLOPS_LOCAL_JOURNAL"  # "off": nothing is kept (the baseline of bench/bench_durability.py)


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class StateUnreadable(Exception):
    """The snapshot on disk cannot be loaded into this moto: the server does not start over it."""


class BlobStore:
    """Content-addressed bodies: `blobs/<sha256>`, each written once, fsynced before it is referred to."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, body: bytes) -> str:
        digest = hashlib.sha256(body).hexdigest()
        path = self.root / digest
        if not path.exists():
            temporary = self.root / f".{digest}.{threading.get_ident()}.tmp"
            with open(temporary, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
            _fsync_dir(self.root)
        return digest

    def get(self, digest: str) -> bytes:
        return (self.root / digest).read_bytes()

    def keep_only(self, digests: set[str]) -> None:
        """Delete the blobs nothing refers to any more (only while nothing else writes)."""
        for path in self.root.iterdir():
            if path.name not in digests:
                path.unlink(missing_ok=True)


class Journal:
    """Length- and CRC-framed pickled records, appended with one write each; `sync` is a group commit."""

    def __init__(self, path: Path):
        self.path = path
        self.sync_lock = threading.Lock()
        self._open()

    def _open(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.written = self.synced = os.fstat(self.fd).st_size

    def append(self, record: dict[str, Any]) -> int:
        payload = pickle.dumps(record, protocol=5)
        os.write(self.fd, _HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        self.written += _HEADER.size + len(payload)
        return self.written

    def sync(self, upto: int) -> None:
        if self.synced >= upto:
            return
        with self.sync_lock:
            if self.synced >= upto:  # another thread's fsync covered this record
                return
            target = self.written
            os.fsync(self.fd)
            self.synced = max(self.synced, target)

    @staticmethod
    def read(path: Path) -> tuple[list[dict[str, Any]], int]:
        """(the whole records, the length they take); a torn last record (a crash mid-write) ends the list."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return [], 0
        records, offset = [], 0
        while offset + _HEADER.size <= len(data):
            length, crc = _HEADER.unpack_from(data, offset)
            payload = data[offset + _HEADER.size : offset + _HEADER.size + length]
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            records.append(moto_compat.loads(payload))
            offset += _HEADER.size + length
        return records, offset

    def restart(self) -> None:
        """An empty journal in place of this one (after a snapshot took in everything it held)."""
        os.close(self.fd)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_bytes(b"")
        os.replace(temporary, self.path)
        _fsync_dir(self.path.parent)
        self._open()

    def close(self) -> None:
        os.close(self.fd)


def _operation(environ: dict[str, Any], body: bytes) -> str:
    operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2]
    if not operation and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        operation = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    return operation


def changes_state(environ: dict[str, Any], body: bytes) -> bool:
    if environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD", "OPTIONS"):
        return False
    return not _operation(environ, body).startswith(READ_OPERATIONS)


def _replayable(environ: dict[str, Any]) -> dict[str, str]:
    """What of a WSGI environ moto reads: the CGI variables and headers (no streams, no server objects), with no
    credential or signature in it: the replay needs the signer's scope (moto reads the region, service and key id
    from it), never a signature or a session token, and the journal must not hand them to whoever reads it."""
    return {
        key: _without_secrets(key, value)
        for key, value in environ.items()
        if isinstance(value, str)
        and (not key.startswith(("wsgi.", "werkzeug.")) or key == "wsgi.url_scheme")
        and key not in _SECRET_HEADERS
    }


_SECRET_HEADERS = {"HTTP_X_AMZ_SECURITY_TOKEN"}


def _without_secrets(key: str, value: str) -> str:
    if key == "HTTP_AUTHORIZATION":
        return redact.authorization(value)
    if key in ("QUERY_STRING", "REQUEST_URI", "RAW_URI"):  # the query, and the raw request line werkzeug keeps
        return redact.query(value)
    return value


class DurableStore:
    """A WSGI app: moto behind the journal. Hooks register their replayable changes and the state they keep."""

    def __init__(self, root: Path, moto_app: Any, enabled: bool = True):
        self.root = root
        self.moto_app = moto_app
        self.enabled = enabled
        self.lock = threading.RLock()  # one change at a time: moto's ids and the journal's order agree
        self.changes: dict[str, Callable[[Any], None]] = {
            "moto.set": lambda data: moto_compat.set_attributes(data["path"], data["attributes"]),
            "moto.delete": lambda data: moto_compat.delete(data["path"]),
        }
        self.participants: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}
        self.restored_callbacks: list[Callable[[], None]] = []
        self.resume_callbacks: list[Callable[[], None]] = []
        self.seq = 0
        self.since_snapshot = 0
        self.snapshotting = False
        self.closed = False
        self.journal: Journal | None = None
        self.blobs: BlobStore | None = None

    # --- what hooks use -------------------------------------------------------------------------------------

    def register(self, name: str, change: Callable[[Any], None]) -> None:
        """A named change: applied by `call` now, and by the replay after a restart."""
        self.changes[name] = change

    def participant(self, name: str, get: Callable[[], Any], put: Callable[[Any], None]) -> None:
        """State a hook keeps itself: `get()` goes into every snapshot, `put(value)` restores it; `record(name,
        value)` journals a new value between snapshots."""
        self.participants[name] = (get, put)
        self.changes[name] = put

    def on_restored(self, callback: Callable[[], None]) -> None:
        """Runs after the replay, before the server answers (e.g. jobs that were running -> Failed)."""
        self.restored_callbacks.append(callback)

    def on_resume(self, callback: Callable[[], None]) -> None:
        """Runs once the server listens (e.g. endpoints InService get their model server back)."""
        self.resume_callbacks.append(callback)

    def call(self, name: str, data: Any) -> None:
        """Apply a registered change now and journal it (moto's ids seeded, as the replay will)."""
        with self.lock:
            seed, now = secrets.randbits(63), time.time()
            with moto_compat.seeded_at(seed, now):
                self.changes[name](data)
            end = self._append({"kind": "call", "name": name, "data": data, "seed": seed, "time": now})
        self._sync(end)

    def record(self, name: str, data: Any) -> None:
        """Journal the new value of a participant's state, already applied by its owner."""
        with self.lock:
            end = self._append({"kind": "call", "name": name, "data": data, "seed": 0, "time": time.time()})
        self._sync(end)

    # --- WSGI ----------------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not self.enabled:
            return self.moto_app(environ, start_response)
        body = environ["wsgi.input"].read()
        environ["wsgi.input"] = io.BytesIO(body)
        journaled = changes_state(environ, body)
        blob = self.blobs.put(body) if journaled and len(body) > INLINE_MAX and self.blobs else None
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.update(status=status, headers=headers)

        with self.lock:
            if self.closed:  # stopping: nothing more may change unrecorded
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"the local AWS is stopping"]
            moto_compat.prepare(self.moto_app, environ)
            seed, now = secrets.randbits(63), time.time()
            with moto_compat.seeded_at(seed, now):
                chunks = self.moto_app(environ, capture)
                try:
                    answer = b"".join(chunks)
                finally:
                    getattr(chunks, "close", lambda: None)()
            if journaled and 200 <= int(captured["status"].split()[0]) < 300:
                self._append(
                    {
                        "kind": "request",
                        "environ": _replayable(environ),
                        "seed": seed,
                        "time": now,
                        "body": None if blob else body,
                        "blob": blob,
                    }
                )
            end = self.journal.written if self.journal else 0
        self._sync(end)  # a read too: what anyone was shown is on disk (it may show a change still syncing)
        start_response(captured["status"], captured["headers"])
        return [answer]

    # --- journal and snapshots -----------------------------------------------------------------------------

    def _append(self, record: dict[str, Any]) -> int:
        if not self.enabled or self.journal is None:
            return 0
        self.seq += 1
        self.since_snapshot += 1
        end = self.journal.append({**record, "seq": self.seq})
        if self.since_snapshot >= SNAPSHOT_EVERY and not self.snapshotting:
            self.snapshotting = True
            threading.Thread(target=self._snapshot_in_background, name="local-aws-snapshot", daemon=True).start()
        return end

    def _sync(self, end: int) -> None:
        if end and self.journal is not None:
            self.journal.sync(end)

    def _snapshot_in_background(self) -> None:
        try:
            with self.lock:
                if not self.closed:
                    self.snapshot()
        except Exception as exc:  # the journal still holds everything; the next start replays it
            print(f"local AWS: snapshot failed: {exc}", file=sys.stderr, flush=True)
        finally:
            self.snapshotting = False

    def snapshot(self) -> set[str]:
        """Write the snapshot (holding the lock), then empty the journal; returns the blobs it refers to. Blobs
        nothing refers to are deleted at a clean stop only, when no request can be writing one."""
        assert self.journal is not None and self.blobs is not None
        with self.lock:
            extra = {"seq": self.seq, "participants": {name: get() for name, (get, _) in self.participants.items()}}
            data, digests = moto_compat.dump_state(extra, self.blobs, INLINE_MAX)
            _write_private(self.root / SNAPSHOT, data)
            self.journal.restart()
            self.since_snapshot = 0
            return digests

    def recover(self) -> None:
        """Load the snapshot, replay the journal after it, run the restored callbacks, compact. Before serving."""
        if not self.enabled:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(self.root / BLOBS)
        moto_compat.make_deterministic()
        self._check_stamp()
        snapshot = self.root / SNAPSHOT
        if snapshot.exists():
            try:
                extra = moto_compat.load_state(snapshot.read_bytes(), self.blobs)
            except Exception as exc:  # unpickling names classes: another moto (or mlops) may lack them
                raise StateUnreadable(
                    f"the saved state {snapshot} cannot be read ({type(exc).__name__}: {exc}); it was probably "
                    "written by another version of mlops or moto. Start the local AWS with that version, or "
                    "delete the state with `mlops local reset --yes`"
                ) from None
            self.seq = extra["seq"]
            for name, value in extra["participants"].items():
                if name in self.participants:
                    self.participants[name][1](value)
        records, valid = Journal.read(self.root / JOURNAL)
        with open(self.root / JOURNAL, "ab") as handle:  # drop a torn tail: it was never acknowledged
            handle.truncate(valid)
        replayed = [record for record in records if record["seq"] > self.seq]
        for record in replayed:
            self._replay(record)
        self.seq = max([self.seq, *(record["seq"] for record in replayed)])
        self.journal = Journal(self.root / JOURNAL)
        _write_private(self.root / STAMP, json.dumps(versions.stamp(), sort_keys=True).encode())
        self.since_snapshot = len(replayed)
        for callback in self.restored_callbacks:
            callback()
        if replayed:  # the next start loads them from a snapshot, written while the server already answers
            print(f"local AWS: state restored ({len(replayed)} journal record(s) replayed)", flush=True)
            self.snapshotting = True
            threading.Thread(target=self._snapshot_in_background, name="local-aws-snapshot", daemon=True).start()

    def _check_stamp(self) -> None:
        """Refuse state another version wrote, before reading any of it: moto's pickled backends change between
        patch releases (5.2.6 added fields 5.2.5's objects lack), so they would fail at first use, not at load.
        State from before stamps existed has none and loads as it did (an unreadable one is refused below)."""
        try:
            written = json.loads((self.root / STAMP).read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise StateUnreadable(f"the saved state's {self.root / STAMP} is unreadable ({exc}); {_WAY_OUT}") from None
        current = versions.stamp()
        if written != current:
            raise StateUnreadable(
                f"the saved state in {self.root} was written by {_versions(written)}, this is {_versions(current)}; "
                f"start the local AWS with that version, or {_WAY_OUT}"
            )

    def _replay(self, record: dict[str, Any]) -> None:
        try:
            if record["kind"] == "call":
                with moto_compat.seeded_at(record["seed"], record["time"]):
                    self.changes[record["name"]](record["data"])
                return
            body = record["body"] if record["blob"] is None else self.blobs.get(record["blob"])  # type: ignore
            environ = {
                **record["environ"],
                "wsgi.input": io.BytesIO(body),
                "wsgi.errors": sys.stderr,
                "wsgi.version": (1, 0),
                "wsgi.multithread": False,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
                "CONTENT_LENGTH": str(len(body)),
            }
            status: list[str] = []
            moto_compat.prepare(self.moto_app, environ)
            with moto_compat.seeded_at(record["seed"], record["time"]):
                chunks = self.moto_app(environ, lambda line, headers, exc_info=None: status.append(line))
                b"".join(chunks)
            if not status or not status[0].startswith("2"):
                print(
                    f"local AWS: replaying {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')} "
                    f"answered {status[:1]}",
                    file=sys.stderr,
                    flush=True,
                )
        except Exception as exc:  # one record that no longer applies must not keep the rest from coming back
            print(
                f"local AWS: journal record {record['seq']} not replayed: {type(exc).__name__}: {exc}",
                file=sys.stderr,
                flush=True,
            )

    def resume(self) -> None:
        for callback in self.resume_callbacks:
            try:
                callback()
            except Exception as exc:
                print(f"local AWS: resuming failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def close(self) -> None:
        """A clean stop: a last snapshot, after which nothing more changes."""
        if not self.enabled or self.journal is None:
            return
        with self.lock:
            if self.closed:
                return
            self.closed = True
            assert self.blobs is not None
            self.blobs.keep_only(self.snapshot())
            self.journal.close()


_WAY_OUT = "delete the state with `mlops local reset --yes`"


def _versions(stamp: Any) -> str:
    if not isinstance(stamp, dict):
        return "an unknown version"
    return ", ".join(f"{name} {version or 'absent'}" for name, version in sorted(stamp.items()))


def _write_private(path: Path, data: bytes) -> None:
    """Write `path` whole (a temporary file renamed over it), readable by its owner only."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def journaling_enabled() -> bool:
    return os.environ.get(JOURNAL_OFF_ENV, "").lower() != "off"
