"""The checks: each turns the account model into findings of the rules in `rules.py`.

Two views, as a reviewer needs both:
- per policy (wildcards, exposure, exfiltration, credentials): the fix is in the policy; a policy is reported
  only if some holder really gets the permission (a Deny elsewhere on every holder silences it);
- per principal (privilege escalation, admin attachments, trust, staleness, the project's roles): the
  principal's policies are combined (a user's include its groups'), so two harmless policies that together
  escalate are caught, and a Deny in one policy removes what another allows.

Grants narrowed by a resource pattern or a condition are reported one or two severity levels lower (see
`Context._grant_steps` in effective.py), never silently dropped, except where the narrowing provably removes the
risk: a resource pattern matching nothing that exists (e.g. AWS's own policies, which nobody can modify), a date
condition that has expired, or self-service credential actions limited to the caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from mlops_cli.services.audit.actions import (
    ADMIN_POLICY_RULES,
    CREDENTIAL_ACTIONS,
    DATA_EXFILTRATION_ACTIONS,
    PERMISSIONS,
    TAGGING,
    WRITE,
    access_levels,
)
from mlops_cli.services.audit.effective import Context, Effective, Escalation, Grant
from mlops_cli.services.audit.findings import Finding, Settings, days, listed
from mlops_cli.services.audit.model import Account, Policy, Principal
from mlops_cli.services.audit.policy import Statement, glob_match, has_wildcard, parse_statements
from mlops_cli.services.audit.rules import RULES, SEVERITY_RANK, lower


def run_checks(account: Account, settings: Settings) -> list[Finding]:
    context = Context(account, settings)
    findings = [
        *_admin_attachments(context),
        *_policy_content(context),
        *_privilege_escalation(context),
        *_trust(context),
        *_staleness(context),
        *_project_roles(context),
    ]
    return sorted(findings, key=lambda f: (-SEVERITY_RANK[f.severity], f.rule_id, f.arns))


# --- IAM001-004: admin and FullAccess managed policies attached ---------------------------------------------------


def _admin_attachments(context: Context) -> Iterable[Finding]:
    for principal in context.account.principals:
        if principal.service_linked:
            continue
        for policy in principal.attached:
            if policy.kind != "aws-managed":
                continue
            rule_id = ADMIN_POLICY_RULES.get(policy.name) or ("IAM004" if policy.name.endswith("FullAccess") else None)
            if rule_id is None:
                continue
            members = f" (members: {listed(m.name for m in principal.members)})" if principal.members else ""
            yield Finding(
                rule_id,
                RULES[rule_id].severity,
                f"{principal.kind} {principal.name} has {policy.name} attached{members}",
                principal,
                [policy],
                details={"members": [m.arn for m in principal.members]},
            )


# --- IAM010-015, IAM030, IAM031: what each policy grants ----------------------------------------------------------

_EXFILTRATION = frozenset(DATA_EXFILTRATION_ACTIONS)
_CREDENTIALS = frozenset(CREDENTIAL_ACTIONS)


def _policy_content(context: Context) -> Iterable[Finding]:
    for policy in context.account.audited_policies():
        found: dict[str, tuple[list[Statement], list[str], int]] = {}

        def add(rule_id: str, statement: Statement, items: Iterable[str], steps: int = 0) -> None:
            """Collect per rule; the finding takes the severity of its most severe statement."""
            # add() only runs within this iteration, so it sees this policy's `found`.
            statements, listed, least = found.get(rule_id, ([], [], steps))  # noqa: B023
            if statement not in statements:
                statements.append(statement)
            listed.extend(item for item in items if item not in listed)
            found[rule_id] = (statements, listed, min(least, steps))  # noqa: B023

        for statement in policy.statements:
            if not statement.allow:
                continue
            conditional = 2 if statement.conditional else 0
            if statement.is_full_admin:
                if policy.kind != "aws-managed":  # AdministratorAccess is IAM001, per principal
                    add("IAM010", statement, ["*"], conditional)
                continue
            if statement.not_action:
                add(
                    "IAM014",
                    statement,
                    [f"all but {listed(statement.written_actions)}"],
                    conditional + (0 if statement.any_resource() else 1),
                )
                continue
            if statement.not_resource:
                add("IAM015", statement, [f"all but {listed(statement.resources)}"], conditional)
            wildcards = [p for p in statement.written_actions if p.endswith(":*") and not has_wildcard(p[:-2])]
            if wildcards:
                add("IAM011", statement, wildcards, conditional + (0 if statement.any_resource() else 1))
            if statement.conditional:
                continue  # like cloudsplaining: conditioned statements are a deliberate narrowing
            tabled = statement.tabled()
            exfiltration = sorted(a for a in tabled & _EXFILTRATION if statement.any_resource(a))
            if exfiltration:
                add("IAM030", statement, exfiltration)
            credentials = sorted(a for a in tabled & _CREDENTIALS if statement.any_resource(a))
            if credentials:
                add("IAM031", statement, credentials)
            if statement.any_resource():
                specific = [p for p in statement.written_actions if p not in wildcards]
                permissions = [p for p in specific if PERMISSIONS in access_levels(p)]
                writes = [p for p in specific if p not in permissions and access_levels(p) & {WRITE, TAGGING}]
                if permissions:
                    add("IAM012", statement, permissions)
                if writes:
                    add("IAM013", statement, writes)

        for rule_id, (statements, items, steps) in found.items():
            probe = items if rule_id in ("IAM011", "IAM012", "IAM013", "IAM030", "IAM031") else ["*"]
            if _silenced_for_every_holder(context, policy, probe):
                continue
            rule = RULES[rule_id]
            held = _holders(policy)
            owner = policy.holders[0] if policy.kind == "inline" and policy.holders else None
            yield Finding(
                rule_id,
                lower(rule.severity, steps),
                f"{policy.kind} policy {policy.name}{held}: {rule.title.lower()}: {listed(items)}",
                owner,
                [policy],
                [(policy, statement) for statement in statements],
                details={
                    "actions": items,
                    "holders": [h.arn for h in policy.holders],
                    **({"note": "document assumed from AWS's published version"} if policy.assumed else {}),
                },
            )


def _holders(policy: Policy) -> str:
    if policy.kind == "inline":
        return f" (inline on {policy.holders[0].kind} {policy.holders[0].name})" if policy.holders else ""
    if policy.holders:
        return f" (attached to {listed(h.name for h in policy.holders)})"
    return f" (attached to {policy.attachment_count} principal(s) not in the input)"


def _silenced_for_every_holder(context: Context, policy: Policy, patterns: list[str]) -> bool:
    """True when every holder of the policy has an unconditional Deny covering all these actions."""
    if not policy.holders:
        return Effective([policy]).denies_all(patterns)
    return all(context.effective(holder).denies_all(patterns) for holder in policy.holders)


# --- IAM020-022: privilege escalation, per principal -------------------------------------------------------------


def _privilege_escalation(context: Context) -> Iterable[Finding]:
    subjects = [p for p in context.account.users + context.account.roles if not p.service_linked]
    subjects += [group for group in context.account.groups if not group.members]
    for principal in subjects:
        effective = context.effective(principal)
        if effective.is_admin:
            continue  # already an administrator: IAM001/IAM010 report it
        yield from _escalation_findings(principal, context.escalations(principal, effective))
    # Policies attached to principals the input does not contain: judged alone.
    for policy in context.account.policies.values():
        if not policy.holders and policy.attachment_count > 0 and not policy.missing:
            effective = Effective([policy])
            if not effective.is_admin:
                yield from _escalation_findings(policy, context.escalations(None, effective))


def _escalation_findings(subject: Principal | Policy, escalations: list[Escalation]) -> Iterable[Finding]:
    """Findings for a principal, or for a policy attached only to principals the input lacks (judged alone)."""
    by_rule: dict[str, list[Escalation]] = defaultdict(list)
    for escalation in escalations:
        by_rule[escalation.method.rule_id].append(escalation)
    for rule_id, items in by_rule.items():
        rule = RULES[rule_id]
        severity = lower(rule.severity, min(item.steps for item in items))
        grants = list(dict.fromkeys(grant for item in items for grant in item.grants))
        policies = list(dict.fromkeys(grant[0] for grant in grants))
        principal: Principal | None = None
        if isinstance(subject, Principal):
            who, principal = f"{subject.kind} {subject.name}", subject
        else:
            who = f"policy {subject.name} (attached to {subject.attachment_count} principal(s) not in the input)"
            principal, policies = None, [subject]
        yield Finding(
            rule_id,
            severity,
            f"{who} can escalate privileges: {listed(item.method.name for item in items)}",
            principal,
            policies,
            grants,
            details={
                "methods": [
                    {
                        "method": item.method.name,
                        "how": item.method.summary,
                        "actions": list(item.method.actions),
                        "severity": lower(rule.severity, item.steps),
                        "targets": item.targets[:20],
                        "notes": item.notes,
                    }
                    for item in items
                ]
            },
        )


# --- IAM040-043: trust policies ------------------------------------------------------------------------------------

_ASSUME_ACTIONS = ("sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity")
_ORG_OR_EXTERNAL_ID = {
    "sts:externalid",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:resourceorgid",
}
_NARROWING_ANYONE = _ORG_OR_EXTERNAL_ID | {
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:userid",
    "aws:sourceidentity",
}


def _condition_keys(statement: Statement) -> set[str]:
    return {key.lower() for block in (statement.condition or {}).values() if isinstance(block, dict) for key in block}


def _trusted(statement: Statement) -> list[tuple[str, str]]:
    """(kind, value) for each principal an Allow trust statement names; NotPrincipal counts as everyone."""
    if "NotPrincipal" in statement.raw:
        return [("AWS", "*")]
    principal = statement.raw.get("Principal")
    if principal == "*":
        return [("AWS", "*")]
    if not isinstance(principal, dict):
        return []
    found = []
    for kind, values in principal.items():
        for value in values if isinstance(values, list) else [values]:
            if isinstance(value, str):
                found.append((kind, value))
    return found


def _account_of(value: str) -> str | None:
    if value.isdigit() and len(value) == 12:
        return value
    parts = value.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" and parts[4].isdigit() else None


def _trust(context: Context) -> Iterable[Finding]:
    own_account = context.account.account_id
    for role in context.account.roles:
        if role.service_linked:
            continue
        seen: set[tuple[str, str]] = set()
        services: list[tuple[str, Statement]] = []
        for statement in role.trust:
            if not statement.allow or not any(statement.matches_action(a) for a in _ASSUME_ACTIONS):
                continue
            keys = _condition_keys(statement)
            for kind, value in _trusted(statement):
                if kind == "Service":
                    services.append((value, statement))
                    continue
                finding = _trust_finding(context, role, statement, kind, value, keys, own_account)
                if finding is not None and (finding.rule_id, value) not in seen:
                    seen.add((finding.rule_id, value))
                    yield finding
        power = context.power(role) if services else None
        if power:
            names = list(dict.fromkeys(name for name, _ in services))
            trust_policy = _trust_policy(role)
            yield Finding(
                "IAM042",
                RULES["IAM042"].severity,
                f"role {role.name} is assumable by {listed(names)} and holds {power}-level permissions",
                role,
                [trust_policy],
                [(trust_policy, st) for st in dict.fromkeys(st for _, st in services)],
                details={"services": names, "role_power": power},
            )


def _trust_policy(role: Principal) -> Policy:
    """The role's trust policy, named like a policy so findings can point at it."""
    return Policy(
        key=f"{role.arn}#trust",
        name="AssumeRolePolicyDocument",
        arn=None,
        kind="trust",
        statements=role.trust,
        holders=[role],
    )


def _trust_finding(
    context: Context,
    role: Principal,
    statement: Statement,
    kind: str,
    value: str,
    keys: set[str],
    own_account: str | None,
) -> Finding | None:
    def finding(rule_id: str, severity: str, message: str, **details: Any) -> Finding:
        trust_policy = _trust_policy(role)
        return Finding(
            rule_id,
            severity,
            message,
            role,
            [trust_policy],
            [(trust_policy, statement)],
            details={"trusted": value, **details},
            identity=value,
        )

    if kind == "AWS" and value == "*":
        narrowed = bool(keys & _NARROWING_ANYONE)
        return finding(
            "IAM040",
            "medium" if narrowed else "critical",
            f"role {role.name} can be assumed by any AWS principal"
            + (" (a condition narrows it: review it)" if narrowed else ""),
            conditions=statement.condition,
        )
    if kind == "AWS":
        account = _account_of(value)
        if account and own_account and account != own_account and not keys & _ORG_OR_EXTERNAL_ID:
            power = context.power(role)
            return finding(
                "IAM041",
                "high" if power else RULES["IAM041"].severity,
                f"role {role.name} trusts account {account} ({value}) without sts:ExternalId or an "
                f"organization condition" + (f"; the role is {power}-level" if power else ""),
                account=account,
                role_power=power,
            )
    if (
        kind == "Federated"
        and statement.matches_action("sts:assumerolewithwebidentity")
        and "saml-provider/" not in value
    ):
        provider = value.split("oidc-provider/", 1)[-1]
        needed = ":aud" if provider == "cognito-identity.amazonaws.com" else ":sub"
        if not any(key.endswith(needed) for key in keys):
            return finding(
                "IAM043",
                RULES["IAM043"].severity,
                f"role {role.name} trusts every identity of {provider} (no `{provider}{needed}` condition)",
                provider=provider,
            )
    return None


# --- IAM050-054: unused roles, old and unused keys, MFA ------------------------------------------------------------


def _staleness(context: Context) -> Iterable[Finding]:
    settings = context.settings
    for role in context.account.roles:
        if role.reserved or not role.last_used_known:
            continue
        if role.last_used is not None and days(settings, role.last_used) > settings.unused_days:
            yield Finding(
                "IAM050",
                "low",
                f"role {role.name} last used {days(settings, role.last_used)} days ago",
                role,
                details={"last_used": role.last_used.isoformat()},
            )
        elif role.last_used is None and role.created and days(settings, role.created) > settings.unused_days:
            yield Finding(
                "IAM050",
                "low",
                f"role {role.name} never used since it was created {days(settings, role.created)} days ago",
                role,
                details={"created": role.created.isoformat(), "last_used": None},
            )
    for user in context.account.users:
        if user.access_keys is None:
            continue
        active = [key for key in user.access_keys if key.active]
        for key in active:
            if key.created and days(settings, key.created) > settings.key_age_days:
                yield Finding(
                    "IAM051",
                    "medium",
                    f"user {user.name}: access key {key.key_id} is "
                    f"{days(settings, key.created)} days old (limit {settings.key_age_days})",
                    user,
                    details={"access_key_id": key.key_id, "created": key.created.isoformat()},
                    identity=key.key_id,
                )
            reference = key.last_used or key.created
            if reference and days(settings, reference) > settings.unused_days:
                when = (
                    f"last used {days(settings, key.last_used)} days ago"
                    if key.last_used
                    else f"never used in {days(settings, reference)} days"
                )
                yield Finding(
                    "IAM052",
                    "medium",
                    f"user {user.name}: active access key {key.key_id} {when}",
                    user,
                    details={
                        "access_key_id": key.key_id,
                        "last_used": key.last_used.isoformat() if key.last_used else None,
                    },
                    identity=key.key_id,
                )
        if len(active) > 1:
            yield Finding(
                "IAM053",
                "low",
                f"user {user.name} has {len(active)} active access keys",
                user,
                details={"access_key_ids": [key.key_id for key in active]},
            )
        if user.console and not user.mfa_devices:
            yield Finding("IAM054", "high", f"user {user.name} can sign in to the console without MFA", user)


# --- IAM060-063: the project's own roles ---------------------------------------------------------------------------


def _project_roles(context: Context) -> Iterable[Finding]:
    from mlops_cli.services.iam.policies import project_roles

    config = context.settings.config
    account_id = context.account.account_id
    if config is None or account_id is None:
        return
    roles = {role.name: role for role in context.account.roles}
    for project_role in project_roles(config):
        role = roles.get(project_role.name)
        if role is None:
            continue
        expected = project_role.policy(config, account_id, context.settings.partition)
        reference = parse_statements(expected, "least-privilege policy", context.settings.now)
        excess, grants = _beyond(role, reference)
        if excess:
            yield Finding(
                project_role.rule_id,
                RULES[project_role.rule_id].severity,
                f"role {role.name} allows {len(excess)} permission(s) beyond its least-privilege policy: "
                f"{listed(excess)}",
                role,
                list(dict.fromkeys(p for p, _ in grants)),
                grants,
                details={"excess": excess, "replacement_policy": expected},
            )


def _beyond(role: Principal, reference: tuple[Statement, ...]) -> tuple[list[str], list[Grant]]:
    """`action on resource` entries the role allows that the reference policy does not, and their statements."""
    excess: list[str] = []
    grants: list[Grant] = []
    for policy in role.effective_policies():
        for statement in policy.statements:
            if not statement.allow:
                continue
            if statement.not_action or statement.not_resource:
                items = [f"{'NotAction' if statement.not_action else 'NotResource'} statement in {policy.name}"]
            else:
                items = [
                    f"{action} on {resource}"
                    for action in statement.written_actions
                    for resource in statement.resources
                    if not _covered(statement, action, resource, reference)
                ]
            if items:
                excess += [item for item in items if item not in excess]
                grants.append((policy, statement))
    return excess, grants


def _covered(statement: Statement, action: str, resource: str, reference: tuple[Statement, ...]) -> bool:
    for allowed in reference:
        if (
            any(glob_match(pattern, action, ignore_case=True) for pattern in allowed.actions)
            and any(glob_match(pattern, resource) for pattern in allowed.resources)
            and _condition_within(statement.condition, allowed.condition)
        ):
            return True
    return False


_LIKE = {"StringLike": ("StringLike", "StringEquals"), "ArnLike": ("ArnLike", "ArnEquals")}


def _condition_within(actual: dict | None, required: dict | None) -> bool:
    """Whether `actual` is at least as strict as `required`: every required key is present with values the
    required ones cover (wildcards in the required values count)."""
    if not required:
        return True
    actual = actual or {}
    for operator, block in required.items():
        for key, allowed_values in block.items():
            allowed = allowed_values if isinstance(allowed_values, list) else [allowed_values]
            values = None
            for candidate in _LIKE.get(operator, (operator,)):
                for actual_key, actual_values in (actual.get(candidate) or {}).items():
                    if actual_key.lower() == key.lower():
                        values = actual_values if isinstance(actual_values, list) else [actual_values]
            if values is None or not all(
                any(glob_match(str(a), str(v)) if operator in _LIKE else str(a) == str(v) for a in allowed)
                for v in values
            ):
                return False
    return True
