"""Role sessions expire: after its Expiration a session's keys are refused with AWS's ExpiredToken, in each
protocol's shape, before anything else is looked at. Driven through the front door (guard.Guard) in this process,
over this process's local IAM and STS state, with the session's Expiration moved into the past (an hour passing:
STS's shortest session is 15 minutes)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from mlops_cli.local.core import guard
from mlops_cli.local.core.credentials import LocalCredentials
from mlops_cli.local.iam.principals import ACCOUNT
from mlops_cli.local.moto_compat.backends import backend

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "*"}]}


@pytest.fixture
def session():
    """A session of a new role in this process's local IAM: (access key id, session token, the session)."""
    iam = backend("iam", ACCOUNT, "aws")
    # name, trust policy, path, permissions boundary, description, tags, max session duration
    role = iam.create_role("expiring-role", json.dumps(TRUST), "/", None, "", [], None)
    found = backend("sts", ACCOUNT, "aws").assume_role(
        region_name="us-east-1",
        role_session_name="s",
        role_arn=role.arn,
        policy=None,
        duration=900,
        external_id=None,
    )
    yield found.access_key_id, found.session_token, found
    iam.delete_role("expiring-role")


def ask(key_id: str, token: str) -> tuple[str, bytes]:
    """A SageMaker call signed with the session's key (its signature is checked after the session is)."""

    def app(environ, start_response):  # what answers once admitted
        start_response("200 OK", [])
        return [b"admitted"]

    front = guard.Guard(app, LocalCredentials("root-id", "root-secret"), "127.0.0.1", 1)  # type: ignore[arg-type]
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "QUERY_STRING": "",
        "HTTP_HOST": "127.0.0.1:1",
        "HTTP_X_AMZ_DATE": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "HTTP_X_AMZ_SECURITY_TOKEN": token,
        "HTTP_AUTHORIZATION": (
            f"AWS4-HMAC-SHA256 Credential={key_id}/{datetime.now(UTC):%Y%m%d}/us-east-1/sagemaker/aws4_request, "
            "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
        ),
        "CONTENT_LENGTH": "2",
        "wsgi.input": io.BytesIO(b"{}"),
    }
    environ |= {"HTTP_X_AMZ_TARGET": "SageMaker.ListModels", "CONTENT_TYPE": "application/x-amz-json-1.1"}
    captured: dict = {}
    body = b"".join(front(environ, lambda status, headers, exc_info=None: captured.update(status=status)))
    return captured["status"], body


def test_an_expired_session_is_refused_with_expired_token(session):
    key_id, token, found = session
    status, body = ask(key_id, token)
    assert (
        json.loads(body)["__type"] == "InvalidSignatureException"
    )  # fresh: it gets past the session check (to the signature's)

    found.expiration = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)  # moto keeps naive UTC
    status, body = ask(key_id, token)
    assert status.startswith("400") and json.loads(body) == {
        "__type": "ExpiredTokenException",
        "message": "The security token included in the request is expired",
    }
