"""S3 URIs as the local services read them from requests (channels, output paths, checkpoints, model data)."""

from __future__ import annotations

from mlops_cli.common import s3_uris
from mlops_cli.local.core.names import InvalidRequest


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> (`bucket`, `a/b`); anything else is refused as AWS refuses it (AWS's behaviour, so
    the local AWS's own; the split itself is neutral)."""
    try:
        return s3_uris.split_s3_uri(uri)
    except ValueError:
        raise InvalidRequest(f"Value '{uri}' is not a valid S3 URI (s3://bucket/key)") from None
