"""Live collection: one paginated pass of GetAccountAuthorizationDetails plus the per-user calls the credential
checks need (access keys and their last use, console password, MFA), run concurrently.

The result is the authorization-details JSON with the extra keys `model.py` documents, with dates as ISO
strings, so it can be saved (`--save-input`) and audited again offline. Roles' `RoleLastUsed` comes with the
details on AWS; `GetRole` is called only for roles whose details lack it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from typing import Any

from mlops_cli.plan.sends import sends, sends_via

WORKERS = 8


def _plain(value: Any) -> Any:
    """boto3 answers with datetimes; the saved format has ISO strings (UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _is_no_such_entity(exc: Exception) -> bool:
    from mlops_cli.aws import error_code

    return error_code(exc) in ("NoSuchEntity", "NoSuchEntityException")


@sends("iam", "ListAccessKeys", "GetAccessKeyLastUsed", "GetLoginProfile", "ListMFADevices")
def _user_credentials(iam: Any, user: dict[str, Any]) -> None:
    name = user["UserName"]
    user["AccessKeys"] = []
    for page in iam.get_paginator("list_access_keys").paginate(UserName=name):
        for key in page["AccessKeyMetadata"]:
            last_used = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed", {})
            entry = {"AccessKeyId": key["AccessKeyId"], "Status": key["Status"], "CreateDate": key["CreateDate"]}
            if last_used.get("LastUsedDate"):  # absent when never used ("N/A" service and region)
                entry["LastUsedDate"] = last_used["LastUsedDate"]
            user["AccessKeys"].append(entry)
    try:
        profile = iam.get_login_profile(UserName=name)["LoginProfile"]
        user["LoginProfile"] = {"CreateDate": profile.get("CreateDate")}
    except Exception as exc:
        if not _is_no_such_entity(exc):
            raise
        user["LoginProfile"] = None
    devices = []
    for page in iam.get_paginator("list_mfa_devices").paginate(UserName=name):
        devices.extend(page["MFADevices"])
    user["MFADevices"] = [{"SerialNumber": d["SerialNumber"], "EnableDate": d.get("EnableDate")} for d in devices]


# account_id() is the caller's STS lookup, for an account with no user, group or role to read it from.
@sends("iam", "GetAccountAuthorizationDetails", "GetRole")
@sends("sts", "GetCallerIdentity")
@sends_via(_user_credentials)
def collect_account(iam: Any, account_id: Callable[[], str] | None = None, workers: int = WORKERS) -> dict[str, Any]:
    """Everything the audit reads, from a boto3 IAM client (the caller translates botocore errors)."""
    data: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    paginator = iam.get_paginator("get_account_authorization_details")
    for page in paginator.paginate():
        for key in data:
            data[key].extend(page.get(key, []))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda user: _user_credentials(iam, user), data["UserDetailList"]))
        missing_last_used = [role for role in data["RoleDetailList"] if "RoleLastUsed" not in role]
        list(
            pool.map(
                lambda role: role.update(
                    RoleLastUsed=iam.get_role(RoleName=role["RoleName"])["Role"].get("RoleLastUsed", {})
                ),
                missing_last_used,
            )
        )
    data = _plain(data)
    arns = [item["Arn"] for key in ("UserDetailList", "RoleDetailList", "GroupDetailList") for item in data[key]]
    data["AccountId"] = arns[0].split(":")[4] if arns else (account_id() if account_id else None)
    return data
