"""Raw HTTP against the session's local AWS: requests signed (or not) exactly as a test needs, to show what the
front door lets through."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests


@pytest.fixture(scope="session")
def send(local_aws: str, local_env: dict[str, str]) -> Callable[..., requests.Response]:
    """send(method, path, service, body=b"", headers=None, keys=None|(id, secret)|"unsigned", host=None): the
    request signed with SigV4 by botocore's signer (the instance's keys unless `keys` says otherwise), sent to the
    local AWS; `host` signs and sends another Host header."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def run(
        method: str,
        path: str,
        service: str,
        body: bytes = b"",
        headers: dict | None = None,
        keys: tuple[str, str] | str | None = None,
        host: str | None = None,
    ) -> requests.Response:
        netloc = host or local_aws.split("://", 1)[1]
        request = AWSRequest(method=method, url=f"http://{netloc}{path}", data=body, headers=dict(headers or {}))
        if keys != "unsigned":
            key_id, secret = keys or (local_env["AWS_ACCESS_KEY_ID"], local_env["AWS_SECRET_ACCESS_KEY"])
            signer = SigV4Auth(Credentials(key_id, secret), service, "us-east-1")
            if service == "s3":
                from botocore.auth import S3SigV4Auth

                signer = S3SigV4Auth(Credentials(key_id, secret), service, "us-east-1")
            signer.add_auth(request)
        prepared = request.prepare()
        sent_headers = {**dict(prepared.headers), "Host": netloc}
        return requests.request(
            method, local_aws + prepared.url.split(netloc, 1)[1], data=body, headers=sent_headers, timeout=30
        )

    return run
