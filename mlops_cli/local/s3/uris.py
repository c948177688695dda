"""S3 URIs as the local services read them from requests (channels, output paths, checkpoints, model data)."""

from __future__ import annotations

from mlops_cli.local.core.names import InvalidRequest


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> (`bucket`, `a/b`); anything else is refused as AWS refuses it."""
    if not uri.startswith("s3://"):
        raise InvalidRequest(f"Value '{uri}' is not a valid S3 URI (s3://bucket/key)")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key
