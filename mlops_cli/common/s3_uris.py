"""`s3://bucket/key` URIs, split the one way both sides read them (what a wrong URI means is each side's own:
a usage error for the client, AWS's refusal for the local AWS)."""

from __future__ import annotations

PREFIX = "s3://"


def s3_uri(bucket: str, prefix: str, *parts: str) -> str:
    """`s3://bucket/prefix/part/...`, empty parts and surrounding slashes left out (the config's `s3_uri`)."""
    root = f"{PREFIX}{bucket}/{prefix}".rstrip("/")
    return "/".join([root, *(part.strip("/") for part in parts if part)])


def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/a/b` -> (`bucket`, `a/b`); ValueError for anything that is not an s3:// URI."""
    if not uri.startswith(PREFIX):
        raise ValueError(f"'{uri}' is not an s3:// URI")
    bucket, _, key = uri[len(PREFIX) :].partition("/")
    return bucket, key
