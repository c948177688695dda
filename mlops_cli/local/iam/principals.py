"""Who signed a request: the instance's own keys (the account root: every action allowed), an access key of a
local IAM user, or a role session's temporary keys (STS AssumeRole; the session token must come with them, as
AWS requires). Keys are looked up in the local IAM and STS (moto's, through moto_compat/records/iam.py)."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from mlops_cli.local.core.credentials import LocalCredentials

ACCOUNT = "123456789012"  # the local AWS's one account (mlops_cli.local.core.server.DEFAULT_ACCOUNT)


@dataclass(frozen=True)
class Caller:
    """`credentials` to verify the signature with; `arn` None for the root, whose requests are not evaluated."""

    credentials: LocalCredentials
    arn: str | None = None
    policies: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @property
    def is_root(self) -> bool:
        return self.arn is None


class BadToken(Exception):
    """A session token that is missing, not the session's, or sent with a long-term key."""


class ExpiredToken(Exception):
    """A role session's keys after its Expiration (AssumeRole's DurationSeconds): refused as AWS does."""


def identify(headers: Mapping[str, str], raw_query: str, root: LocalCredentials) -> Caller:
    """The caller a request names by its access key. An unknown key gives the root's credentials back, so the
    signature check refuses it as a key that is not this local AWS's. Raises BadToken or ExpiredToken."""
    from mlops_cli.local.core.sigv4 import access_key_of

    key_id = access_key_of(headers, raw_query)
    token = headers.get("x-amz-security-token") or parse_qs(raw_query).get("X-Amz-Security-Token", [""])[0]
    if not key_id.isascii() or not token.isascii():  # no key of ours; compare_digest would raise on it
        return Caller(root)
    if not key_id or hmac.compare_digest(key_id, root.access_key_id):
        if token:
            raise BadToken("The security token included in the request is invalid.")
        return Caller(root)
    from mlops_cli.local.moto_compat.records.iam import iam_caller

    found = iam_caller(ACCOUNT, key_id)
    if found is None:
        return Caller(root)
    if not hmac.compare_digest(found["token"] or "", token):
        raise BadToken("The security token included in the request is invalid.")
    if found["token"] and _expired(key_id):
        raise ExpiredToken("The security token included in the request is expired")
    return Caller(LocalCredentials(key_id, found["secret"]), found["arn"], tuple(found["policies"]))


def _expired(key_id: str) -> bool:
    from datetime import UTC, datetime

    from mlops_cli.local.moto_compat.records import iam as records

    expires = records.session_expiry(ACCOUNT, key_id)
    if expires is None:
        return False
    expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
    return datetime.now(UTC) >= expires
