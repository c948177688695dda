"""`s3://bucket/key` URIs, split the one way both sides read them (what a wrong URI means is each side's own:
a usage error for the client, AWS's refusal for the local AWS)."""

from __future__ import annotations

PREFIX = "s3://"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> (`bucket`, `a/b`); ValueError for anything that is not an s3:// URI."""
    if not uri.startswith(PREFIX):
        raise ValueError(f"'{uri}' is not an s3:// URI")
    bucket, _, key = uri[len(PREFIX) :].partition("/")
    return bucket, key
