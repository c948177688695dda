"""moto's IAM and STS records as the local AWS reads them: roles (by ARN: their trust policy and creation time),
instance profiles, and who holds an access key (moto.iam.access_control's lookup). Typed views, checked on real
records by tests/foundation/test_moto_contract.py."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol

from mlops_cli.local.moto_compat.backends import backend, has_account


class Role(Protocol):
    arn: str
    create_date: datetime
    assume_role_policy_document: str


def role(arn: str) -> Role | None:
    """The role with this ARN in the local IAM (None when there is none; an account without IAM state is not
    created by looking)."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "iam":
        return None
    account = parts[4]
    if not has_account("iam", account):
        return None
    return next((found for found in backend("iam", account, "global").roles.values() if found.arn == arn), None)


def trust_policy(account: str, role_arn: str) -> str:
    """The role's trust policy document (moto's IAMNotFoundException when there is no such role)."""
    return str(backend("iam", account, "aws").get_role_by_arn(role_arn).assume_role_policy_document)


def instance_profile_role(account: str, profile: str) -> str | None:
    """The ARN of the role in an instance profile named by name or ARN (None when there is none)."""
    name = profile.rsplit("/", 1)[-1]
    iam = backend("iam", account, "aws")
    found = next((p for p in iam.instance_profiles.values() if p.name == name or p.arn == profile), None)
    return found.roles[0].arn if found is not None and found.roles else None


def iam_caller(account: str, access_key_id: str) -> dict[str, Any] | None:
    """Who holds `access_key_id` in the local IAM: {"arn", "secret", "token" (None for a user's key), "policies"
    (its inline and attached policies' documents, its groups' too)}; None when no active key or role session has it
    (moto.iam.access_control's lookup)."""
    from moto.iam.access_control import AssumedRoleAccessKey, CreateAccessKeyFailure, IAMUserAccessKey
    from moto.iam.exceptions import NotFoundException
    from moto.sts.models import sts_backends

    def document(policy: Any) -> dict[str, Any]:
        text = next(v.document for v in policy.versions if v.is_default) if hasattr(policy, "versions") else policy
        return json.loads(text if isinstance(text, str) else text["policy_document"])

    session = sts_backends[account]["aws"].get_assumed_role_from_access_key(access_key_id)
    if session is not None:
        key: Any = AssumedRoleAccessKey(account, "aws", access_key_id, {"X-Amz-Security-Token": session.session_token})
        token, secret = session.session_token, session.secret_access_key
    else:
        try:
            key = IAMUserAccessKey(account, "aws", access_key_id, {})
        except CreateAccessKeyFailure:
            return None
        if any(
            k.access_key_id == access_key_id and k.status != "Active"
            for k in key.backend.get_user(key._owner_user_name).access_keys
        ):
            return None
        token, secret = None, key._secret_access_key
    try:
        policies = [document(p) for p in key.collect_policies()]
    except NotFoundException:  # a session of a role deleted since (or never made): it holds no policy, as on AWS
        policies = []
    return {"arn": key.arn, "secret": secret, "token": token, "policies": policies}


def session_expiry(account: str, access_key_id: str) -> Any:
    """When the STS session holding `access_key_id` expires (moto keeps a naive UTC datetime); None without one."""
    session = backend("sts", account, "aws").get_assumed_role_from_access_key(access_key_id)
    return getattr(session, "expiration", None)
