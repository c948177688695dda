"""S3 checks what a client says a body's SHA-256 is (moto stores the header without checking it).

Real S3 refuses a PutObject/UploadPart whose body does not match `x-amz-checksum-sha256` with BadDigest;
`data upload` relies on that to never store a corrupted read under a final key.
"""

from __future__ import annotations

import base64

from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse

BAD_DIGEST = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>BadDigest</Code>'
    b"<Message>The SHA256 you specified did not match the calculated checksum.</Message></Error>"
)


def verify_sha256(request: LocalRequest, forward: Forward) -> LocalResponse:
    claimed = request.headers.get("x-amz-checksum-sha256")
    chunked = "aws-chunked" in request.headers.get("content-encoding", "")
    if claimed and not chunked:
        actual = base64.b64encode(request.body_digest()).decode()
        if actual != claimed:
            return LocalResponse(400, BAD_DIGEST, {"Content-Type": "application/xml"})
    return forward(request)
