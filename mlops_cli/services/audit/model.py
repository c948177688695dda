"""The normalized account: users, groups, roles and their policies, parsed once from the
`get-account-authorization-details` format (what `aws iam get-account-authorization-details` writes).

The live collector writes the same format plus a few keys the format lacks, so a live audit can be saved and
re-audited offline (`--save-input`, then `--input`):
- top level `AccountId`;
- on each user `AccessKeys` ([{AccessKeyId, Status, CreateDate, LastUsedDate?}]), `LoginProfile`
  ({CreateDate} or null), `MFADevices` ([{SerialNumber, EnableDate}]) and `PasswordLastUsed`.
Where a user has no `AccessKeys` key (a plain CLI dump) the credential checks are skipped, and said so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_cli.errors import UsageError, read_user_file
from mlops_cli.services.audit.actions import KNOWN_AWS_POLICY_DOCUMENTS, is_aws_managed
from mlops_cli.services.audit.gc_pause import gc_paused
from mlops_cli.services.audit.policy import PolicyFormatError, Statement, parse_document, parse_statements

LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
SERVICE_LINKED_PATH = "/aws-service-role/"
RESERVED_PATH = "/aws-reserved/"


@dataclass(eq=False)
class Policy:
    key: str  # the ARN of a managed policy; "<principal ARN>#<name>" for an inline one
    name: str
    arn: str | None
    kind: str  # "aws-managed", "customer-managed" or "inline"
    statements: tuple[Statement, ...]
    attachment_count: int = 0
    holders: list[Principal] = field(default_factory=list)
    missing: bool = False  # attached but absent from the input: content unknown
    assumed: bool = False  # absent from the input; AWS's published document used instead

    def ref(self) -> dict[str, Any]:
        return {"name": self.name, "arn": self.arn, "kind": self.kind}

    @property
    def audited(self) -> bool:
        """Attached somewhere that matters: not only to AWS service-linked roles."""
        if self.arn and ":policy/aws-service-role/" in self.arn:
            return False  # AWS managed, attachable to service-linked roles only
        if self.kind == "inline":
            return not all(holder.service_linked for holder in self.holders)
        if self.holders:
            return not all(holder.service_linked for holder in self.holders)
        return self.attachment_count > 0


@dataclass(eq=False)
class AccessKey:
    key_id: str
    active: bool
    created: datetime | None
    last_used: datetime | None


@dataclass(eq=False)
class Principal:
    kind: str  # "user", "group" or "role"
    name: str
    arn: str
    path: str
    created: datetime | None
    inline: list[Policy] = field(default_factory=list)
    attached: list[Policy] = field(default_factory=list)
    boundary: Policy | None = None
    groups: list[Principal] = field(default_factory=list)  # a user's groups
    members: list[Principal] = field(default_factory=list)  # a group's users
    trust: tuple[Statement, ...] = ()
    trust_document: dict | None = None
    last_used: datetime | None = None
    last_used_known: bool = False
    access_keys: list[AccessKey] | None = None  # None: the input has no credential data
    console: bool | None = None
    mfa_devices: int | None = None

    @property
    def policies(self) -> list[Policy]:
        return self.inline + self.attached

    def effective_policies(self) -> list[Policy]:
        """Everything that grants this principal permissions: its own policies and its groups'."""
        return self.policies + [policy for group in self.groups for policy in group.policies]

    @property
    def service_linked(self) -> bool:
        return self.path.startswith(SERVICE_LINKED_PATH)

    @property
    def reserved(self) -> bool:
        """Managed by AWS (service-linked roles, IAM Identity Center roles): not yours to change."""
        return self.service_linked or self.path.startswith(RESERVED_PATH)

    def ref(self) -> dict[str, Any]:
        return {"type": self.kind, "name": self.name, "arn": self.arn}


@dataclass(eq=False)
class Account:
    account_id: str | None
    users: list[Principal]
    groups: list[Principal]
    roles: list[Principal]
    policies: dict[str, Policy]  # managed policies by ARN
    source: dict[str, Any]
    has_credential_data: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def principals(self) -> list[Principal]:
        return self.users + self.groups + self.roles

    def audited_policies(self) -> list[Policy]:
        inline = [policy for principal in self.principals for policy in principal.inline]
        return [policy for policy in list(self.policies.values()) + inline if policy.audited and not policy.missing]


class _Reader:
    """Type-checked access to the input, so a malformed file fails with the path of the bad field."""

    def __init__(self, origin: str):
        self.origin = origin

    def fail(self, where: str, problem: str) -> UsageError:
        return UsageError(
            f"{self.origin}: {where}: {problem}",
            hint="expected the JSON that `aws iam get-account-authorization-details` writes",
        )

    def field(self, item: dict, key: str, where: str, kind: type | tuple = str, required: bool = True) -> Any:
        if key not in item or item[key] is None:
            if required:
                raise self.fail(where, f"missing {key}")
            return None
        value = item[key]
        if not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{where}.{key}", f"expected {expected}, got {type(value).__name__}")
        return value

    def date(self, item: dict, key: str, where: str) -> datetime | None:
        value = item.get(key)
        if value in (None, ""):
            return None
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise self.fail(f"{where}.{key}", f"not a date: {value!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    def statements(self, value: Any, where: str, now: datetime) -> tuple[Statement, ...]:
        try:
            return parse_statements(parse_document(value, where), where, now)
        except PolicyFormatError as exc:
            raise UsageError(f"{self.origin}: {exc}") from None


@gc_paused
def load_account_file(path: str | Path, now: datetime | None = None) -> Account:
    """Read and parse an authorization-details JSON file; malformed input raises UsageError (exit 2)."""
    file = Path(path)
    from mlops_cli import documents

    text = read_user_file(file, "input file", documents.AUDIT_INPUT.max_bytes)
    try:
        data = documents.load_json(text, str(file), documents.AUDIT_INPUT)
    except documents.SyntaxProblem as exc:
        raise UsageError(
            str(exc), hint="expected the JSON that `aws iam get-account-authorization-details` writes"
        ) from None
    return parse_account(data, {"kind": "file", "path": str(file)}, now)


@gc_paused
def parse_account(data: Any, source: dict[str, Any], now: datetime | None = None) -> Account:
    """Build the account model from authorization-details data (a file's JSON or the live collector's)."""
    now = now or datetime.now(UTC)
    read = _Reader(source.get("path") or "live account data")
    if not isinstance(data, dict) or not any(key in data for key in LISTS):
        raise read.fail("top level", f"expected an object with {', '.join(LISTS)}")
    for key in LISTS:
        if not isinstance(data.get(key, []), list):
            raise read.fail(key, "expected a list")

    policies: dict[str, Policy] = {}
    for index, item in enumerate(data.get("Policies", [])):
        policy = _managed_policy(read, item, f"Policies[{index}]", now)
        policies[policy.key] = policy

    account = Account(account_id=data.get("AccountId"), users=[], groups=[], roles=[], policies=policies, source=source)
    groups_by_name: dict[str, Principal] = {}
    for index, item in enumerate(data.get("GroupDetailList", [])):
        group = _principal(read, account, item, "group", f"GroupDetailList[{index}]", now)
        account.groups.append(group)
        groups_by_name[group.name] = group
    for index, item in enumerate(data.get("UserDetailList", [])):
        where = f"UserDetailList[{index}]"
        user = _principal(read, account, item, "user", where, now)
        for name in read.field(item, "GroupList", where, list, required=False) or []:
            member_of = groups_by_name.get(name)
            if member_of is None:
                account.notes.append(f"user {user.name} is in group {name}, which is not in the input")
                continue
            user.groups.append(member_of)
            member_of.members.append(user)
        _credentials(read, user, item, where)
        account.has_credential_data |= user.access_keys is not None
        account.users.append(user)
    for index, item in enumerate(data.get("RoleDetailList", [])):
        where = f"RoleDetailList[{index}]"
        role = _principal(read, account, item, "role", where, now)
        trust = item.get("AssumeRolePolicyDocument")
        if trust is not None:
            role.trust_document = _document(read, trust, f"{where}.AssumeRolePolicyDocument")
            role.trust = read.statements(role.trust_document, f"{where}.AssumeRolePolicyDocument", now)
        last_used = read.field(item, "RoleLastUsed", where, dict, required=False)
        if last_used is not None:
            role.last_used_known = True
            role.last_used = read.date(last_used, "LastUsedDate", f"{where}.RoleLastUsed")
        account.roles.append(role)

    account.account_id = account.account_id or _most_common_account(account)
    missing = [policy.name for policy in policies.values() if policy.missing]
    if missing:
        account.notes.append(
            f"{len(missing)} attached managed policies are not in the input, their content was "
            f"not audited: {', '.join(sorted(missing)[:5])}" + (" ..." if len(missing) > 5 else "")
        )
    return account


def _document(read: _Reader, value: Any, where: str) -> dict:
    try:
        return parse_document(value, where)
    except PolicyFormatError as exc:
        raise UsageError(f"{read.origin}: {exc}") from None


def _managed_policy(read: _Reader, item: Any, where: str, now: datetime) -> Policy:
    if not isinstance(item, dict):
        raise read.fail(where, "expected an object")
    arn = read.field(item, "Arn", where)
    # moto leaves PolicyName off managed policies: the name is the ARN's last path segment.
    name = read.field(item, "PolicyName", where, required=False) or arn.rsplit("/", 1)[-1]
    versions = read.field(item, "PolicyVersionList", where, list)
    default_id = item.get("DefaultVersionId")
    default = next((v for v in versions if isinstance(v, dict) and v.get("IsDefaultVersion") is True), None) or next(
        (v for v in versions if isinstance(v, dict) and v.get("VersionId") == default_id), None
    )
    if default is None:
        raise read.fail(f"{where}.PolicyVersionList", f"no default version for {arn}")
    doc_where = f"{where} ({name}).PolicyVersionList[{versions.index(default)}].Document"
    statements = read.statements(
        read.field(default, "Document", doc_where.rsplit(".", 1)[0], (dict, str)), doc_where, now
    )
    return Policy(
        key=arn,
        name=name,
        arn=arn,
        kind="aws-managed" if is_aws_managed(arn) else "customer-managed",
        statements=statements,
        attachment_count=read.field(item, "AttachmentCount", where, int, required=False) or 0,
    )


def _attached(read: _Reader, account: Account, item: dict, where: str, now: datetime) -> list[Policy]:
    attached = []
    for index, entry in enumerate(read.field(item, "AttachedManagedPolicies", where, list, required=False) or []):
        place = f"{where}.AttachedManagedPolicies[{index}]"
        if not isinstance(entry, dict):
            raise read.fail(place, "expected an object")
        arn = read.field(entry, "PolicyArn", place)
        policy = account.policies.get(arn) or _absent_policy(account, arn, entry.get("PolicyName"), now)
        attached.append(policy)
    return attached


def _absent_policy(account: Account, arn: str, name: str | None, now: datetime) -> Policy:
    """An attachment to a policy the input does not contain: AWS's known admin documents are assumed."""
    name = name or arn.rsplit("/", 1)[-1]
    known = KNOWN_AWS_POLICY_DOCUMENTS.get(name) if is_aws_managed(arn) else None
    policy = Policy(
        key=arn,
        name=name,
        arn=arn,
        kind="aws-managed" if is_aws_managed(arn) else "customer-managed",
        statements=parse_statements(known, name, now) if known else (),
        missing=known is None,
        assumed=known is not None,
    )
    account.policies[arn] = policy
    return policy


def _principal(read: _Reader, account: Account, item: Any, kind: str, where: str, now: datetime) -> Principal:
    if not isinstance(item, dict):
        raise read.fail(where, "expected an object")
    name_key, inline_key = {
        "user": ("UserName", "UserPolicyList"),
        "group": ("GroupName", "GroupPolicyList"),
        "role": ("RoleName", "RolePolicyList"),
    }[kind]
    principal = Principal(
        kind=kind,
        name=read.field(item, name_key, where),
        arn=read.field(item, "Arn", where),
        path=read.field(item, "Path", where, required=False) or "/",
        created=read.date(item, "CreateDate", where),
    )
    for index, entry in enumerate(read.field(item, inline_key, where, list, required=False) or []):
        place = f"{where}.{inline_key}[{index}]"
        if not isinstance(entry, dict):
            raise read.fail(place, "expected an object")
        policy_name = read.field(entry, "PolicyName", place)
        statements = read.statements(
            read.field(entry, "PolicyDocument", place, (dict, str)), f"{place} ({policy_name}).PolicyDocument", now
        )
        policy = Policy(
            key=f"{principal.arn}#{policy_name}",
            name=policy_name,
            arn=None,
            kind="inline",
            statements=statements,
            holders=[principal],
        )
        principal.inline.append(policy)
    principal.attached = _attached(read, account, item, where, now)
    for policy in principal.attached:
        policy.holders.append(principal)
    boundary = read.field(item, "PermissionsBoundary", where, dict, required=False)
    if boundary and boundary.get("PermissionsBoundaryArn"):
        arn = boundary["PermissionsBoundaryArn"]
        principal.boundary = account.policies.get(arn) or _absent_policy(account, arn, None, now)
    return principal


def _credentials(read: _Reader, user: Principal, item: dict, where: str) -> None:
    """The collector's extra keys: access keys with last use, console password, MFA devices."""
    keys = read.field(item, "AccessKeys", where, list, required=False)
    if keys is None:
        return
    user.access_keys = []
    for index, key in enumerate(keys):
        place = f"{where}.AccessKeys[{index}]"
        if not isinstance(key, dict):
            raise read.fail(place, "expected an object")
        user.access_keys.append(
            AccessKey(
                key_id=read.field(key, "AccessKeyId", place),
                active=read.field(key, "Status", place) == "Active",
                created=read.date(key, "CreateDate", place),
                last_used=read.date(key, "LastUsedDate", place),
            )
        )
    user.console = bool(read.field(item, "LoginProfile", where, dict, required=False))
    user.mfa_devices = len(read.field(item, "MFADevices", where, list, required=False) or [])


def _most_common_account(account: Account) -> str | None:
    owners = Counter(principal.arn.split(":")[4] for principal in account.principals if principal.arn.count(":") >= 5)
    return owners.most_common(1)[0][0] if owners else None
