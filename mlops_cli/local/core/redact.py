"""Signatures and session tokens taken out of what the local AWS writes down (its journal, its log): a presigned
URL is a bearer credential for up to 7 days, a request's signature one for 15 minutes (replayed as it was)."""

from __future__ import annotations

import re

# Signature=... in an Authorization header; X-Amz-Signature, Signature (S3's older form) and X-Amz-Security-Token in
# a presigned query (a query string, a raw request line, a logged request line).
_SIGNATURE_IN_HEADER = re.compile(r"(Signature=)[^,\s]*")
_SECRET_QUERY = re.compile(r"((?:^|[?&])(?:X-Amz-Signature|Signature|X-Amz-Security-Token)=)[^&\s]*", re.IGNORECASE)


def authorization(value: str) -> str:
    """An Authorization header with its signature redacted; its credential scope kept."""
    return _SIGNATURE_IN_HEADER.sub(r"\1redacted", value)


def query(text: str) -> str:
    """A query string, or text holding one (a request line), with its signature and session token redacted."""
    return _SECRET_QUERY.sub(r"\1redacted", text)
