"""A request body's SHA-256, computed once: the front door (mlops_cli.local.core.guard) hashes every body it reads
(for SigV4) and leaves the hex digest in the WSGI environ under BODY_SHA256, a key no header can name (headers
arrive as HTTP_*); handlers that check a body's hash (S3's ChecksumSHA256) take it from there."""

from __future__ import annotations

import hashlib
from typing import Any

BODY_SHA256 = "mlops.body_sha256"


def body_digest(environ: dict[str, Any], body: bytes) -> bytes:
    """The SHA-256 of `body`, the body read from this environ: the front door's, else computed here."""
    known = environ.get(BODY_SHA256)
    return bytes.fromhex(known) if known else hashlib.sha256(body).digest()
