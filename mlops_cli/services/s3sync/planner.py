"""Decide what an upload must send: one listing, cached local hashes, HeadObject only where nothing else can tell.

A file is skipped when an object of the same size is under its key and that object's recorded SHA-256 equals
the file's. The recorded SHA-256 comes from this machine's state (trusted while the listing shows the same
size and ETag), else from HeadObject (`x-amz-meta-sha256`, or a single-part `ChecksumSHA256`).
"""

from __future__ import annotations

import mimetypes
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.aws import error_code
from mlops_cli.errors import OperationError, UsageError
from mlops_cli.plan import Plan, Step, sends, sends_via
from mlops_cli.services.s3sync.location import S3Location, parse_size
from mlops_cli.services.s3sync.source import LocalFile, SourceTree, b64_to_hex, hex_to_b64, sha256_file
from mlops_cli.services.s3sync.state import PendingMultipart, RemoteRecord, SyncState

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
MAX_PUT_SIZE = 5 * 1024 * MIB
DEFAULT_MULTIPART_THRESHOLD = 8 * MIB
DEFAULT_JOBS = 16
DELETE_BATCH = 1000  # DeleteObjects' limit
SHA256_METADATA = "sha256"  # stored as x-amz-meta-sha256: the whole file's hex SHA-256
MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
# Listing fields the sync never reads (it needs Key, Size and ETag only).
_UNUSED_LISTING_FIELDS = re.compile(rb"<(LastModified|StorageClass|ChecksumAlgorithm|ChecksumType)>[^<]*</\1>")


@dataclass
class Transfer:
    """One file to send: a single PutObject, or a multipart upload when `part_size` is set."""

    file: LocalFile
    key: str
    reason: str  # "new" or "changed"
    part_size: int = 0

    @property
    def part_count(self) -> int:
        return max(1, -(-self.file.size // self.part_size)) if self.part_size else 1

    def _object_params(self, bucket: str) -> dict[str, Any]:
        content_type = mimetypes.guess_type(self.file.relative)[0] or "application/octet-stream"
        return {
            "Bucket": bucket,
            "Key": self.key,
            "ContentType": content_type,
            "ChecksumAlgorithm": "SHA256",
            "Metadata": {SHA256_METADATA: self.file.sha256},
        }

    def put_params(self, bucket: str) -> dict[str, Any]:
        """PutObject without the body: S3 refuses the object unless the body's SHA-256 is ChecksumSHA256."""
        return {**self._object_params(bucket), "ChecksumSHA256": hex_to_b64(self.file.sha256)}

    def create_params(self, bucket: str) -> dict[str, Any]:
        return self._object_params(bucket)

    def part_params(self, bucket: str, upload_id: str, number: int) -> dict[str, Any]:
        return {
            "Bucket": bucket,
            "Key": self.key,
            "UploadId": upload_id,
            "PartNumber": number,
            "ChecksumAlgorithm": "SHA256",
        }

    def steps(self, bucket: str) -> list[Step]:
        note = f"{self.file.relative}: {self.file.size} bytes, {self.reason}"
        if not self.part_size:
            return [Step("s3", "PutObject", self.put_params(bucket), note)]
        upload_id = "<UploadId from CreateMultipartUpload>"
        steps = [Step("s3", "CreateMultipartUpload", self.create_params(bucket), note)]
        for number in range(1, self.part_count + 1):
            start = (number - 1) * self.part_size
            end = min(self.file.size, start + self.part_size)
            steps.append(
                Step(
                    "s3",
                    "UploadPart",
                    self.part_params(bucket, upload_id, number),
                    f"bytes {start}-{end - 1}, with the ChecksumSHA256 of the part as read",
                )
            )
        steps.append(
            Step(
                "s3",
                "CompleteMultipartUpload",
                {
                    "Bucket": bucket,
                    "Key": self.key,
                    "UploadId": upload_id,
                    "MultipartUpload": {
                        "Parts": [
                            {
                                "PartNumber": number,
                                "ETag": f"<ETag UploadPart {number} returns>",
                                "ChecksumSHA256": f"<ChecksumSHA256 of part {number}>",
                            }
                            for number in range(1, self.part_count + 1)
                        ]
                    },
                },
                "only when every part succeeded and the whole file's SHA-256 still matches; "
                "AbortMultipartUpload otherwise",
            )
        )
        return steps


@dataclass
class SyncPlan:
    tree: SourceTree
    dest: S3Location
    region: str
    create_bucket: bool
    transfers: list[Transfer]
    skipped: int
    deletes: list[str]  # remote keys to delete (--delete)
    remote_only: int  # remote keys with no local file, left alone without --delete
    orphans: list[PendingMultipart]  # multipart uploads a killed run left behind: aborted first
    verified: dict[str, RemoteRecord] = field(default_factory=dict)  # HeadObject answers worth remembering
    hashed: list[LocalFile] = field(default_factory=list)  # files hashed now (not from the cache): to remember
    started_at: float = field(default_factory=time.monotonic)

    def create_bucket_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"Bucket": self.dest.bucket}
        if self.region != "us-east-1":  # us-east-1 refuses a LocationConstraint naming itself
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        return params

    def abort_params(self, orphan: PendingMultipart) -> dict[str, Any]:
        return {"Bucket": self.dest.bucket, "Key": orphan.key, "UploadId": orphan.upload_id}

    def delete_batches(self) -> list[dict[str, Any]]:
        return [
            {
                "Bucket": self.dest.bucket,
                "Delete": {
                    "Objects": [{"Key": key} for key in self.deletes[start : start + DELETE_BATCH]],
                    "Quiet": True,
                },
            }
            for start in range(0, len(self.deletes), DELETE_BATCH)
        ]

    def to_plan(self) -> Plan:
        plan = Plan(
            f"upload {self.tree.root} -> {self.dest.uri}: {len(self.transfers)} to upload, "
            f"{self.skipped} unchanged, {len(self.deletes)} to delete"
        )
        if self.create_bucket:
            plan.add("s3", "CreateBucket", self.create_bucket_params(), "the bucket does not exist yet")
        for orphan in self.orphans:
            plan.add("s3", "AbortMultipartUpload", self.abort_params(orphan), "left by an upload that was killed")
        for transfer in self.transfers:
            plan.steps.extend(transfer.steps(self.dest.bucket))
        for params in self.delete_batches():
            plan.add("s3", "DeleteObjects", params, "remote objects with no local file (--delete)")
        return plan


def _drop_unused_listing_fields(response_dict: dict[str, Any], **_kwargs: Any) -> None:
    """Removed before botocore parses the page: its timestamp parsing alone was most of a listing's client CPU."""
    if isinstance(response_dict.get("body"), bytes):
        response_dict["body"] = _UNUSED_LISTING_FIELDS.sub(b"", response_dict["body"])


@sends("s3", "ListObjectsV2")
def list_remote(s3: Any, dest: S3Location) -> dict[str, tuple[int, str]] | None:
    """key -> (size, ETag) of every object under the destination, in one paginated listing; None: no bucket."""
    remote: dict[str, tuple[int, str]] = {}
    event, handler_id = "before-parse.s3.ListObjectsV2", "mlops-upload-listing"
    s3.meta.events.register(event, _drop_unused_listing_fields, unique_id=handler_id)
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=dest.bucket, Prefix=dest.list_prefix):
            for item in page.get("Contents", ()):
                remote[item["Key"]] = (item["Size"], item["ETag"])
    except Exception as exc:
        if error_code(exc) == "NoSuchBucket":
            return None
        raise
    finally:
        s3.meta.events.unregister(event, unique_id=handler_id)
    return remote


@sends("s3", "HeadObject")
def recorded_sha256(s3: Any, bucket: str, key: str) -> str | None:
    """The whole-object SHA-256 S3 holds for `key`, if any: our metadata, or a single-part checksum."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except Exception as exc:
        if error_code(exc) in MISSING_CODES:
            return None
        raise
    if head.get("Metadata", {}).get(SHA256_METADATA):
        return head["Metadata"][SHA256_METADATA]
    checksum = head.get("ChecksumSHA256") or ""
    # A multipart object's checksum is a checksum of part checksums ("...-N"), not the file's.
    return b64_to_hex(checksum) if checksum and "-" not in checksum else None


def _hash(file: LocalFile) -> str:
    try:
        return sha256_file(file.path)
    except OSError as exc:
        raise OperationError(f"cannot read '{file.relative}': {exc.strerror or exc}") from None


def parse_multipart_threshold(text: str) -> int:
    threshold = parse_size(text, "--multipart-threshold")
    if not MIN_PART_SIZE <= threshold <= MAX_PUT_SIZE:
        raise UsageError("--multipart-threshold must be between 5MiB (S3's smallest part) and 5GiB (its largest PUT)")
    return threshold


def part_size_for(size: int, threshold: int) -> int:
    """0 (one PutObject) below the threshold; else parts of at least the threshold, 5 MiB, and size/10,000."""
    if size < threshold:
        return 0
    return max(threshold, MIN_PART_SIZE, -(-size // MAX_PARTS))


@sends_via(list_remote, recorded_sha256)
def plan_sync(
    s3: Any,
    tree: SourceTree,
    dest: S3Location,
    state: SyncState,
    *,
    delete: bool = False,
    create_bucket: bool = True,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
    jobs: int = DEFAULT_JOBS,
) -> SyncPlan:
    """Read-only: ListObjectsV2, HeadObject where needed, and local hashing. Sends no change."""
    started_at = time.monotonic()
    keyed = [(file, dest.key_for(file.relative)) for file in tree.files]  # bad names fail before any request
    remote = list_remote(s3, dest)
    bucket_missing = remote is None
    if remote is None:
        if not create_bucket:
            raise OperationError(f"bucket '{dest.bucket}' does not exist and --no-create-bucket forbids creating it")
        remote = {}
    known = state.uploaded(dest.list_prefix)
    state.fill_cached_hashes(tree.root, tree.files)

    remote_sha: dict[str, str | None] = {}
    to_head: list[str] = []
    for file, key in keyed:
        if key not in remote or remote[key][0] != file.size:
            continue
        record = known.get(key)
        if record and (record.size, record.etag) == remote[key]:
            remote_sha[key] = record.sha256
        else:
            to_head.append(key)
    headed = set(to_head)
    to_hash = [file for file, _key in keyed if not file.sha256]
    pool = ThreadPoolExecutor(jobs, thread_name_prefix="plan")
    try:
        heads = pool.map(lambda key: recorded_sha256(s3, dest.bucket, key), to_head)
        hashes = pool.map(_hash, to_hash)
        remote_sha.update(zip(to_head, heads, strict=True))
        for file, digest in zip(to_hash, hashes, strict=True):
            file.sha256 = digest
    finally:
        pool.shutdown(cancel_futures=True)  # on Ctrl-C or a failure, do not hash the rest first

    plan = SyncPlan(
        tree,
        dest,
        s3.meta.region_name,
        create_bucket=bucket_missing,
        transfers=[],
        skipped=0,
        deletes=[],
        remote_only=0,
        orphans=state.orphaned_multipart(),
        hashed=to_hash,
        started_at=started_at,
    )
    for file, key in keyed:
        if key in remote_sha and remote_sha[key] == file.sha256:
            plan.skipped += 1
            if key in headed:
                plan.verified[key] = RemoteRecord(file.sha256, *remote[key])
            continue
        plan.transfers.append(
            Transfer(file, key, "changed" if key in remote else "new", part_size_for(file.size, multipart_threshold))
        )
    extras = sorted(set(remote) - {key for _file, key in keyed})
    if delete:
        plan.deletes = extras
    else:
        plan.remote_only = len(extras)
    return plan
