"""Effective permissions: what a principal's policies together allow after unconditional Deny statements and its
permissions boundary, and which privilege-escalation paths that opens (with how far resource patterns and
conditions narrow each grant, against the IAM resources that exist in the account)."""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from mlops_cli.services.audit.actions import ESCALATION_METHODS, IAM_METHODS, SELF_SERVICE_ACTIONS, TARGET_KIND, Method
from mlops_cli.services.audit.findings import Settings, listed
from mlops_cli.services.audit.model import Account, Policy, Principal
from mlops_cli.services.audit.policy import Statement, glob_match, substitute_variables

Grant = tuple[Policy, Statement]


class Effective:
    """What a set of policies allows, for the tabled actions, after unconditional Deny statements."""

    def __init__(self, policies: list[Policy], boundary: Policy | None = None):
        self.allows: dict[str, list[Grant]] = defaultdict(list)
        self.denied: set[str] = set()
        self.deny_statements: list[Statement] = []
        self.admin_grants: list[Grant] = []
        for policy in policies:
            for statement in policy.statements:
                if statement.allow:
                    for action in statement.tabled():
                        self.allows[action].append((policy, statement))
                    if statement.is_full_admin and not statement.conditional:
                        self.admin_grants.append((policy, statement))
                elif not statement.conditional and statement.any_resource() and not statement.not_resource:
                    # Only unconditional Deny on every resource is certain to apply; narrower ones are ignored,
                    # which can over-report but never hides a finding.
                    self.denied |= statement.tabled()
                    self.deny_statements.append(statement)
        self.boundary = Effective([boundary]) if boundary is not None and not boundary.missing else None

    def grants(self, action: str) -> list[Grant]:
        if action in self.denied or (self.boundary is not None and not self.boundary.grants(action)):
            return []
        return self.allows.get(action, [])

    def allowed_actions(self) -> set[str]:
        """The tabled actions some statement allows and no unconditional Deny (or boundary) removes."""
        allowed = set(self.allows) - self.denied
        return allowed & self.boundary.allowed_actions() if self.boundary is not None else allowed

    @property
    def is_admin(self) -> bool:
        """`*` on `*` with nothing that matters denied (IAM escalation actions all still allowed)."""
        if not self.admin_grants or any(action in self.denied for method in IAM_METHODS for action in method.actions):
            return False
        return self.boundary is None or self.boundary.is_admin

    def denies_all(self, patterns: Iterable[str]) -> bool:
        """Whether unconditional Deny statements cover every one of these action patterns."""
        return all(any(statement.matches_action(pattern) for statement in self.deny_statements) for pattern in patterns)


@dataclass
class Escalation:
    method: Method
    steps: int  # severity steps below the rule's default
    grants: list[Grant]
    targets: list[str]
    notes: list[str]


class Context:
    def __init__(self, account: Account, settings: Settings):
        self.account = account
        self.settings = settings
        arns_by_kind = {
            "user": [user.arn for user in account.users],
            "group": [group.arn for group in account.groups],
            "role": [role.arn for role in account.roles],
            # Only customer managed policies can be changed by anyone.
            "policy": [
                policy.arn for policy in account.policies.values() if policy.kind == "customer-managed" and policy.arn
            ],
        }
        # Sorted by the resource part ("role/path/name"), so a pattern's literal prefix finds its candidates by
        # bisection instead of a scan: restricted patterns differ per principal, and a scan would be quadratic.
        self._by_resource = {
            kind: sorted((arn.split(":", 5)[-1], arn) for arn in arns) for kind, arns in arns_by_kind.items()
        }
        self.roles_by_arn = {role.arn: role for role in account.roles}
        self._targets: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        self._any_resource: dict[tuple[int, str], bool] = {}
        self._effective: dict[int, Effective] = {}
        self._power: dict[str, str | None] = {}

    def effective(self, principal: Principal) -> Effective:
        key = id(principal)
        if key not in self._effective:
            self._effective[key] = Effective(principal.effective_policies(), principal.boundary)
        return self._effective[key]

    def power(self, role: Principal) -> str | None:
        """'admin', 'escalation' (holds a privilege-escalation path) or None: what passing the role gives."""
        if role.arn not in self._power:
            self._power[role.arn] = None  # guards against cycles while evaluating
            effective = self.effective(role)
            if effective.is_admin:
                self._power[role.arn] = "admin"
            elif self.escalations(role, effective, passable_roles_known=False):
                self._power[role.arn] = "escalation"
        return self._power[role.arn]

    def escalations(
        self, principal: Principal | None, effective: Effective, passable_roles_known: bool = True
    ) -> list[Escalation]:
        found = []
        allowed = effective.allowed_actions()
        for method in ESCALATION_METHODS:
            if not allowed.issuperset(method.actions):
                continue
            worst, grants, targets, notes = 0, [], [], []
            for action in method.actions:
                best = self._best_grant(principal, action, effective.grants(action), passable_roles_known)
                if best is None:
                    break
                steps, grant, action_targets, note = best
                worst = max(worst, steps)
                grants.append(grant)
                targets += action_targets
                notes += [note] if note else []
            else:
                found.append(Escalation(method, worst, grants, sorted(set(targets)), notes))
        return found

    def targets(self, kind: str, patterns: tuple[str, ...]) -> list[str]:
        """The existing IAM resources of a kind that resource patterns match (memoised: patterns repeat)."""
        key = (kind, patterns)
        if key not in self._targets:
            found: set[str] = set()
            index = self._by_resource[kind]
            for pattern in patterns:
                resource = pattern.split(":", 5)[-1] if pattern.count(":") >= 5 else "*"
                prefix = re.split(r"[*?]", resource, maxsplit=1)[0]
                start = bisect.bisect_left(index, (prefix,))
                for position in range(start, len(index)):
                    name, arn = index[position]
                    if not name.startswith(prefix):
                        break
                    if glob_match(pattern, arn):
                        found.add(arn)
            self._targets[key] = sorted(found)
        return self._targets[key]

    def _best_grant(
        self, principal: Principal | None, action: str, grants: list[Grant], passable_roles_known: bool
    ) -> tuple[int, Grant, list[str], str] | None:
        best = None
        for policy, statement in grants:
            outcome = self._grant_steps(principal, action, statement, passable_roles_known)
            if outcome is not None and (best is None or outcome[0] < best[0]):
                best = (outcome[0], (policy, statement), outcome[1], outcome[2])
        return best

    def _grant_steps(
        self, principal: Principal | None, action: str, statement: Statement, passable_roles_known: bool
    ) -> tuple[int, list[str], str] | None:
        """Severity steps for one grant: 0 on every resource, 1 narrowed to some existing resources, +2 under a
        condition; None when the narrowing leaves nothing to escalate with."""
        condition_steps = 2 if statement.conditional else 0
        note = f"only when {statement.condition}" if statement.conditional else ""
        key = (id(statement), action)
        if key not in self._any_resource:
            self._any_resource[key] = statement.any_resource(action)
        if self._any_resource[key]:
            return condition_steps, [], note
        kind = TARGET_KIND.get(action)
        if kind is None:
            return 1 + condition_steps, [], (note or f"limited to {listed(statement.resources)}")
        username = principal.name if principal is not None and principal.kind == "user" else None
        patterns = tuple(
            resolved
            for resource in statement.resources
            if (resolved := substitute_variables(resource, username)) is not None
        )
        targets = self.targets(kind, patterns)
        own = own_arns(principal)
        if action in SELF_SERVICE_ACTIONS and principal is not None:
            targets = [arn for arn in targets if arn != principal.arn]
        if action == "iam:passrole":
            if not passable_roles_known:
                return None
            targets = [arn for arn in targets if self.power(self.roles_by_arn[arn])]
        if not targets:
            return None
        steps = 0 if own.intersection(targets) else 1
        return steps + condition_steps, targets, note


def own_arns(principal: Principal | None) -> set[str]:
    """Resources whose change escalates the principal itself: itself, its groups, its customer policies."""
    if principal is None:
        return set()
    groups = principal.groups
    policies = principal.effective_policies()
    return {principal.arn} | {group.arn for group in groups} | {p.arn for p in policies if p.arn}
