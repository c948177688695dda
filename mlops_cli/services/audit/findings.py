"""What an audit reports: a finding of one rule about a principal or policies (with the statements behind it and a
stable fingerprint for ignore files), and the settings the checks run with."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlops_cli.services.audit.model import Policy, Principal
from mlops_cli.services.audit.policy import Statement
from mlops_cli.services.audit.rules import RULES

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

MAX_LISTED = 8  # items named in a one-line message; details carry the full list


@dataclass(eq=False)
class Finding:
    rule_id: str
    severity: str
    message: str
    principal: Principal | None = None
    policies: list[Policy] = field(default_factory=list)
    statements: list[tuple[Policy, Statement]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    identity: str = ""  # extra discriminator for the fingerprint (e.g. an access key id)

    @property
    def arns(self) -> list[str]:
        """What an ignore entry's ARN glob is matched against: the principal, then the policies."""
        return ([self.principal.arn] if self.principal else []) + [policy.arn or policy.key for policy in self.policies]

    @property
    def fingerprint(self) -> str:
        subject = self.principal.arn if self.principal else ""
        keys = ",".join(sorted(policy.key for policy in self.policies))
        digest = hashlib.sha256(f"{self.rule_id}|{subject}|{keys}|{self.identity}".encode()).hexdigest()
        return digest[:16]

    def to_dict(self) -> dict[str, Any]:
        rule = RULES[self.rule_id]
        return {
            "id": self.fingerprint,
            "rule_id": self.rule_id,
            "title": rule.title,
            "category": rule.category,
            "severity": self.severity,
            "message": self.message,
            "principal": self.principal.ref() if self.principal else None,
            "policies": [policy.ref() for policy in self.policies],
            "statements": [
                {"policy": policy.name, "index": statement.index, "statement": statement.raw}
                for policy, statement in self.statements
            ],
            "details": self.details,
            "why": rule.why,
            "fix": rule.fix,
        }


@dataclass
class Settings:
    now: datetime
    unused_days: int = 90
    key_age_days: int = 90
    config: Config | None = None  # enables the project-role checks
    partition: str = "aws"


def listed(items: Iterable[str]) -> str:
    items = list(items)
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" (+{len(items) - MAX_LISTED} more)" if len(items) > MAX_LISTED else "")


def days(settings: Settings, moment: datetime) -> int:
    return (settings.now - moment).days
