"""moto's S3 objects read in-process (a training job's data channel: thousands of small files the server would
otherwise fetch from itself over HTTP)."""

from __future__ import annotations

from mlops_cli.local.moto_compat.backends import backend


def bucket_keys(account: str, bucket_name: str) -> list[str] | None:
    """The object keys of a bucket in the local S3 (one C-level copy: uploads may go on beside); None if the
    bucket does not exist."""
    from moto.s3.exceptions import MissingBucket

    try:
        bucket = backend("s3", account, "aws").get_bucket(bucket_name)
    except MissingBucket:
        return None
    return list(dict.keys(bucket.keys))


def object_body(account: str, bucket_name: str, key: str) -> bytes | None:
    """An object's body; None when the bucket has no such key (moto's MissingBucket when there is no bucket)."""
    found = backend("s3", account, "aws").get_object(bucket_name, key)
    return None if found is None else bytes(found.value)
