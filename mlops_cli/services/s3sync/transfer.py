"""Run a SyncPlan: parallel PutObject / multipart uploads, each verified by SHA-256, then DeleteObjects.

Nothing corrupt ever lands under a final key: a file is read, hashed as read and compared with the SHA-256
it was planned with before PutObject is sent (and S3 checks the body against ChecksumSHA256 on arrival);
a multipart upload is completed only when every part succeeded and the whole file hashed the same, and is
aborted otherwise (failure, Ctrl-C). Each finished file is committed to the state at once, so a re-run
resumes where an interrupted one stopped.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any

from mlops_cli.aws import error_code
from mlops_cli.errors import MlopsError, OperationError
from mlops_cli.plan.sends import sends, sends_via
from mlops_cli.services.s3sync import source
from mlops_cli.services.s3sync.planner import DEFAULT_JOBS, SyncPlan, Transfer
from mlops_cli.services.s3sync.source import b64_sha256
from mlops_cli.services.s3sync.state import RemoteRecord, SyncState

SMALL_BODY = 1024 * 1024
WAKE_S = 0.25
# What S3 answers when a body does not match the checksum sent with it.
CHECKSUM_MISMATCH_CODES = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch"}


class TransferObserver:
    """Progress hooks, called from worker threads; this default ignores them."""

    def started(self, files: int, total_bytes: int) -> None:
        pass

    def sent(self, nbytes: int) -> None:
        pass

    def finished(self, transfer: Transfer) -> None:
        pass


@dataclass
class SyncResult:
    source: str
    destination: str
    uploaded: int
    skipped: int
    deleted: int
    bytes: int
    seconds: float
    bucket_created: bool
    multipart: int  # of the uploaded files, how many went as multipart uploads
    remote_only: int  # remote objects with no local file, left in place (no --delete)
    interrupted: bool = False
    pending: int = 0  # files not uploaded because of the interruption

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Cancelled(Exception):
    """A worker saw the stop signal (Ctrl-C or another file's failure) before it finished."""


def _read_failure(transfer: Transfer, bucket: str) -> OperationError:
    return OperationError(
        f"'{transfer.file.relative}': the bytes read differ from the bytes hashed (the file "
        f"changed while being read, or the read was corrupted); nothing was stored under "
        f"s3://{bucket}/{transfer.key}"
    )


class _Uploader:
    def __init__(self, s3: Any, plan: SyncPlan, state: SyncState, observer: TransferObserver, jobs: int):
        self.s3, self.plan, self.state, self.observer, self.jobs = s3, plan, state, observer, jobs
        self.bucket = plan.dest.bucket
        self.stop = threading.Event()
        self.part_slots = threading.BoundedSemaphore(jobs)  # parts in memory at once, over all files
        self.parts: ThreadPoolExecutor | None = None

    def run(self) -> tuple[list[Transfer], BaseException | None, bool]:
        """Upload every transfer; returns (finished, first failure, interrupted)."""
        futures: dict[Future, Transfer] = {}
        interrupted = False
        failure: BaseException | None = None
        # Files and parts use separate pools: a file waits on its parts, so they must never compete for threads.
        # The file pool is left first (it waits for the files in flight: each completes, or aborts its
        # multipart upload), while the part pool still takes their parts.
        with ThreadPoolExecutor(self.jobs, "upload-part") as parts, ThreadPoolExecutor(self.jobs, "upload") as files:
            self.parts = parts
            try:
                for transfer in self.plan.transfers:
                    futures[files.submit(self.upload, transfer)] = transfer
                settled = self._settled_when_all_done_or_one_fails(list(futures))
                # A timeout, so Ctrl-C is seen at once even when the signal reached a worker thread.
                while not settled.wait(WAKE_S):
                    pass
                failure = next(
                    (future.exception() for future in futures if future.done() and future.exception() is not None), None
                )
                if failure is not None:
                    self._stop(futures)
            except KeyboardInterrupt:
                interrupted = True
                self._stop(futures)
        finished = [
            transfer for future, transfer in futures.items() if not future.cancelled() and future.exception() is None
        ]
        if failure is None:
            failure = next(
                (
                    future.exception()
                    for future in futures
                    if not future.cancelled()
                    and future.exception() is not None
                    and not isinstance(future.exception(), _Cancelled)
                ),
                None,
            )
        return finished, failure, interrupted

    @staticmethod
    def _settled_when_all_done_or_one_fails(futures: list[Future]) -> threading.Event:
        settled = threading.Event()
        remaining = [len(futures)]
        lock = threading.Lock()

        def on_done(future: Future) -> None:
            with lock:
                remaining[0] -= 1
                if not remaining[0] or (not future.cancelled() and future.exception() is not None):
                    settled.set()

        if not futures:
            settled.set()
        for future in futures:
            future.add_done_callback(on_done)
        return settled

    def _stop(self, futures: dict[Future, Transfer]) -> None:
        self.stop.set()
        for future in futures:
            future.cancel()

    def upload(self, transfer: Transfer) -> None:
        if self.stop.is_set():
            raise _Cancelled()
        try:
            etag = self._multipart(transfer) if transfer.part_size else self._put(transfer)
        except (_Cancelled, MlopsError):
            raise
        except OSError as exc:
            raise OperationError(f"cannot read '{transfer.file.relative}': {exc.strerror or exc}") from None
        except Exception as exc:
            raise self._aws_failure(transfer, exc) from None
        self.state.record_upload(transfer.key, RemoteRecord(transfer.file.sha256, transfer.file.size, etag))
        self.observer.finished(transfer)

    def _aws_failure(self, transfer: Transfer, exc: Exception) -> MlopsError:
        from mlops_cli.aws import translate_error

        if error_code(exc) in CHECKSUM_MISMATCH_CODES:
            return OperationError(
                f"S3 rejected '{transfer.file.relative}': the body did not match its SHA-256 "
                f"({error_code(exc)}); nothing was stored under s3://{self.bucket}/{transfer.key}"
            )
        error = translate_error(exc)
        return type(error)(f"uploading '{transfer.file.relative}': {error}", hint=error.hint)

    @sends("s3", "PutObject")
    def _put(self, transfer: Transfer) -> str:
        with source.open_source(transfer.file.path) as handle:
            body = handle.read(transfer.file.size + 1)  # one byte more: a file that grew is caught too
        if hashlib.sha256(body).hexdigest() != transfer.file.sha256:
            raise _read_failure(transfer, self.bucket)
        response = self.s3.put_object(Body=body, **transfer.put_params(self.bucket))
        self.observer.sent(len(body))
        return response["ETag"]

    @sends("s3", "CreateMultipartUpload", "CompleteMultipartUpload", "AbortMultipartUpload")
    def _multipart(self, transfer: Transfer) -> str:
        upload_id = self.s3.create_multipart_upload(**transfer.create_params(self.bucket))["UploadId"]
        self.state.multipart_started(transfer.key, upload_id)
        try:
            parts = self._send_parts(transfer, upload_id)
            response = self.s3.complete_multipart_upload(
                Bucket=self.bucket, Key=transfer.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            try:
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=transfer.key, UploadId=upload_id)
            except Exception:
                pass  # the state still lists the upload: the next run aborts it
            else:
                self.state.multipart_ended(upload_id)
            raise
        self.state.multipart_ended(upload_id)
        return response["ETag"]

    def _send_parts(self, transfer: Transfer, upload_id: str) -> list[dict[str, Any]]:
        """Read the parts in order (hashing the whole file as read) and send them in parallel."""
        parts = self.parts
        if parts is None:
            raise RuntimeError("parts are sent only while run() holds the part pool")
        whole = hashlib.sha256()
        futures: list[Future] = []
        try:
            with source.open_source(transfer.file.path) as handle:
                for number in range(1, transfer.part_count + 1):
                    if self.stop.is_set():
                        raise _Cancelled()
                    chunk = handle.read(transfer.part_size)
                    whole.update(chunk)
                    self.part_slots.acquire()
                    futures.append(parts.submit(self._send_part, transfer, upload_id, number, chunk))
                whole.update(handle.read(1))
            if whole.hexdigest() != transfer.file.sha256:
                raise _read_failure(transfer, self.bucket)
            return [future.result() for future in futures]
        finally:
            wait(futures)  # no part may still be on its way when the upload is completed or aborted

    @sends("s3", "UploadPart")
    def _send_part(self, transfer: Transfer, upload_id: str, number: int, chunk: bytes) -> dict[str, Any]:
        try:
            if self.stop.is_set():
                raise _Cancelled()
            checksum = b64_sha256(chunk)
            response = self.s3.upload_part(
                Body=chunk, ChecksumSHA256=checksum, **transfer.part_params(self.bucket, upload_id, number)
            )
            self.observer.sent(len(chunk))
            return {"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum}
        finally:
            self.part_slots.release()


def _skip_continue_for_small_bodies(request: Any, **_kwargs: Any) -> None:
    """botocore asks for `Expect: 100-continue` on every PutObject; for a small body that only costs a round trip."""
    if int(request.headers.get("Content-Length") or SMALL_BODY) < SMALL_BODY:
        request.headers.pop("Expect", None)


@sends("s3", "CreateBucket", "AbortMultipartUpload", "DeleteObjects")
@sends_via(_Uploader._put, _Uploader._multipart, _Uploader._send_part)
def run_sync(
    s3: Any, plan: SyncPlan, state: SyncState, *, jobs: int = DEFAULT_JOBS, observer: TransferObserver | None = None
) -> SyncResult:
    """Send the plan. Raises OperationError naming the first file that failed (the others finished are kept)."""
    observer = observer or TransferObserver()
    s3.meta.events.register(
        "before-send.s3.PutObject", _skip_continue_for_small_bodies, unique_id="mlops-upload-small-put"
    )
    if plan.create_bucket:
        try:
            s3.create_bucket(**plan.create_bucket_params())
        except Exception as exc:
            if error_code(exc) != "BucketAlreadyOwnedByYou":  # created meanwhile by another run of ours
                raise
    for orphan in plan.orphans:
        try:
            s3.abort_multipart_upload(**plan.abort_params(orphan))
        except Exception as exc:
            if error_code(exc) not in ("NoSuchUpload", "404"):
                raise
        state.multipart_ended(orphan.upload_id)
    for key, record in plan.verified.items():
        state.record_upload(key, record)
    state.remember_hashes(plan.hashed)

    observer.started(len(plan.transfers), sum(transfer.file.size for transfer in plan.transfers))
    finished, failure, interrupted = _Uploader(s3, plan, state, observer, jobs).run()
    if failure is not None:
        others = f"; {len(finished)} other file(s) finished, re-running resumes" if finished else ""
        if isinstance(failure, MlopsError):
            raise type(failure)(f"{failure}{others}", hint=failure.hint)
        raise OperationError(f"upload failed: {type(failure).__name__}: {failure}{others}")

    deleted = 0
    if not interrupted:
        for params in plan.delete_batches():
            response = s3.delete_objects(**params)
            if response.get("Errors"):
                first = response["Errors"][0]
                raise OperationError(
                    f"could not delete s3://{plan.dest.bucket}/{first.get('Key')}: "
                    f"{first.get('Code')}: {first.get('Message')}"
                )
            keys = [item["Key"] for item in params["Delete"]["Objects"]]
            state.forget(keys)
            deleted += len(keys)
    return SyncResult(
        source=str(plan.tree.root),
        destination=plan.dest.uri,
        uploaded=len(finished),
        skipped=plan.skipped,
        deleted=deleted,
        bytes=sum(transfer.file.size for transfer in finished),
        seconds=round(time.monotonic() - plan.started_at, 3),
        bucket_created=plan.create_bucket,
        multipart=sum(1 for transfer in finished if transfer.part_size),
        remote_only=plan.remote_only,
        interrupted=interrupted,
        pending=len(plan.transfers) - len(finished),
    )
