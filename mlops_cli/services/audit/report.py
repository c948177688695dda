"""The audit result and its machine-readable forms: JSON (stable, versioned schema) and SARIF 2.1.0.

JSON: `REPORT_SCHEMA` below is the contract (JSON Schema draft 2020-12); `schema_version` changes only when a
field changes meaning or disappears (added fields keep the version).
SARIF: one run; rules carry help text and GitHub's `security-severity`; each result names the principal or
policy as a logical location (its ARN) and a stable pseudo-path `aws/<account>/iam/<kind>/<name>` as the
physical location GitHub code scanning requires; `partialFingerprints` keep alerts stable across runs;
suppressed findings are included with a `suppressions` entry carrying the ignore reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlops_cli import __version__
from mlops_cli.services.audit.findings import Finding
from mlops_cli.services.audit.ignore import IgnoreEntry
from mlops_cli.services.audit.model import Account
from mlops_cli.services.audit.rules import RULES, SEVERITIES, SEVERITY_RANK

SCHEMA_VERSION = "1"
TOOL_NAME = "mlops audit-iam"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


@dataclass
class Report:
    account: Account
    findings: list[Finding]
    suppressed: list[tuple[Finding, IgnoreEntry]] = field(default_factory=list)
    expired_ignores: list[IgnoreEntry] = field(default_factory=list)
    unused_ignores: list[IgnoreEntry] = field(default_factory=list)
    below_min_severity: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    generated_at: str = ""
    duration_s: float = 0.0

    def counts(self) -> dict[str, int]:
        counts = {severity: 0 for severity in SEVERITIES}
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts

    def at_or_above(self, threshold: str) -> list[Finding]:
        """Findings that fail a `--fail-on threshold` gate (none for `never`)."""
        if threshold == "never":
            return []
        return [f for f in self.findings if SEVERITY_RANK[f.severity] >= SEVERITY_RANK[threshold]]

    def summary(self) -> dict[str, Any]:
        account = self.account
        return {
            "total": len(self.findings),
            "by_severity": self.counts(),
            "suppressed": len(self.suppressed),
            "below_min_severity": self.below_min_severity,
            "expired_ignores": len(self.expired_ignores),
            "failed": bool(self.at_or_above(self.settings.get("fail_on", "never"))),
            "scanned": {
                "users": len(account.users),
                "groups": len(account.groups),
                "roles": len(account.roles),
                "policies": len(account.audited_policies()),
            },
            "duration_s": round(self.duration_s, 4),
            "notes": list(account.notes),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": TOOL_NAME, "version": __version__},
            "generated_at": self.generated_at,
            "source": {**self.account.source, "account_id": self.account.account_id},
            "settings": self.settings,
            "summary": self.summary(),
            "findings": [finding.to_dict() for finding in self.findings],
            "suppressed": [
                {"finding": finding.to_dict(), "ignore": entry.to_dict()} for finding, entry in self.suppressed
            ],
            "ignore": {
                "expired": [entry.to_dict() for entry in self.expired_ignores],
                "unused": [entry.to_dict() for entry in self.unused_ignores],
            },
            "rules": [
                {"id": rule.id, "title": rule.title, "severity": rule.severity, "category": rule.category}
                for rule in RULES.values()
            ],
        }

    def to_sarif(self) -> dict[str, Any]:
        rule_ids = list(RULES)
        results = [_sarif_result(self.account, finding, rule_ids) for finding in self.findings]
        results += [_sarif_result(self.account, finding, rule_ids, entry) for finding, entry in self.suppressed]
        return {
            "$schema": SARIF_SCHEMA_URI,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": TOOL_NAME,
                            "version": __version__,
                            "rules": [_sarif_rule(rule_id) for rule_id in rule_ids],
                        }
                    },
                    "automationDetails": {"id": f"mlops-audit-iam/{self.account.account_id or 'unknown'}/"},
                    "invocations": [
                        {
                            "executionSuccessful": True,
                            "toolExecutionNotifications": [
                                {"level": "note", "message": {"text": note}} for note in self.account.notes
                            ],
                        }
                    ],
                    "results": results,
                }
            ],
        }


def _sarif_rule(rule_id: str) -> dict[str, Any]:
    rule = RULES[rule_id]
    return {
        "id": rule.id,
        "name": "".join(word.capitalize() for word in rule.category.split("-")) + rule.id,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.why},
        "help": {
            "text": f"{rule.why}\n\nFix: {rule.fix}",
            "markdown": f"**{rule.title}** ({rule.id}, {rule.severity})\n\n{rule.why}\n\n**Fix:** {rule.fix}",
        },
        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]},
        "properties": {
            "tags": ["security", "iam", rule.category],
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": "high",
        },
    }


def _sarif_result(
    account: Account, finding: Finding, rule_ids: list[str], suppression: IgnoreEntry | None = None
) -> dict[str, Any]:
    if finding.principal is not None:
        kind, name, arn = finding.principal.kind, finding.principal.name, finding.principal.arn
    else:
        policy = finding.policies[0]
        kind, name, arn = "policy", policy.name, policy.arn or policy.key
    logical = [{"name": name, "fullyQualifiedName": arn, "kind": kind}]
    logical += [
        {"name": policy.name, "fullyQualifiedName": policy.arn or policy.key, "kind": "policy"}
        for policy in finding.policies
        if finding.principal is not None
    ]
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_ids.index(finding.rule_id),
        "level": SARIF_LEVEL[finding.severity],
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": f"aws/{account.account_id or 'unknown'}/iam/{kind}/{name.replace(' ', '_')}"
                    },
                    "region": {"startLine": 1},
                },
                "logicalLocations": logical,
            }
        ],
        "partialFingerprints": {"mlopsFinding/v1": finding.fingerprint},
        "properties": {
            "severity": finding.severity,
            "security-severity": SECURITY_SEVERITY[finding.severity],
            "details": finding.details,
        },
    }
    if suppression is not None:
        result["suppressions"] = [{"kind": "external", "justification": suppression.reason}]
    return result


_REF = {
    "type": "object",
    "required": ["name", "arn", "kind"],
    "properties": {
        "name": {"type": "string"},
        "arn": {"type": ["string", "null"]},
        "kind": {"enum": ["aws-managed", "customer-managed", "inline", "trust"]},
    },
}
_FINDING = {
    "type": "object",
    "required": [
        "id",
        "rule_id",
        "title",
        "category",
        "severity",
        "message",
        "principal",
        "policies",
        "statements",
        "details",
        "why",
        "fix",
    ],
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
        "rule_id": {"enum": list(RULES)},
        "title": {"type": "string"},
        "category": {"type": "string"},
        "severity": {"enum": list(SEVERITIES)},
        "message": {"type": "string", "minLength": 1},
        "principal": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["type", "name", "arn"],
                    "properties": {
                        "type": {"enum": ["user", "group", "role"]},
                        "name": {"type": "string"},
                        "arn": {"type": "string", "pattern": "^arn:"},
                    },
                },
            ]
        },
        "policies": {"type": "array", "items": _REF},
        "statements": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["policy", "index", "statement"],
                "properties": {
                    "policy": {"type": "string"},
                    "index": {"type": "integer", "minimum": 0},
                    "statement": {"type": "object"},
                },
            },
        },
        "details": {"type": "object"},
        "why": {"type": "string"},
        "fix": {"type": "string"},
    },
}
_IGNORE_ENTRY = {
    "type": "object",
    "required": ["rule", "arn", "reason", "expires"],
    "properties": {
        "rule": {"type": "string"},
        "arn": {"type": "string"},
        "reason": {"type": "string"},
        "expires": {"type": ["string", "null"]},
    },
}
_COUNT = {"type": "integer", "minimum": 0}

REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "mlops audit-iam report",
    "type": "object",
    "required": [
        "schema_version",
        "tool",
        "generated_at",
        "source",
        "settings",
        "summary",
        "findings",
        "suppressed",
        "ignore",
        "rules",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "tool": {"type": "object", "required": ["name", "version"]},
        "generated_at": {"type": "string", "format": "date-time"},
        "source": {
            "type": "object",
            "required": ["kind", "account_id"],
            "properties": {
                "kind": {"enum": ["file", "live"]},
                "path": {"type": "string"},
                "account_id": {"type": ["string", "null"]},
            },
        },
        "settings": {
            "type": "object",
            "required": ["fail_on", "min_severity", "unused_days", "key_age_days"],
            "properties": {
                "fail_on": {"enum": [*SEVERITIES, "never"]},
                "min_severity": {"enum": list(SEVERITIES)},
                "unused_days": _COUNT,
                "key_age_days": _COUNT,
                "ignore_file": {"type": ["string", "null"]},
            },
        },
        "summary": {
            "type": "object",
            "required": [
                "total",
                "by_severity",
                "suppressed",
                "below_min_severity",
                "expired_ignores",
                "failed",
                "scanned",
                "duration_s",
                "notes",
            ],
            "properties": {
                "total": _COUNT,
                "by_severity": {
                    "type": "object",
                    "required": list(SEVERITIES),
                    "properties": {s: _COUNT for s in SEVERITIES},
                    "additionalProperties": False,
                },
                "suppressed": _COUNT,
                "below_min_severity": _COUNT,
                "expired_ignores": _COUNT,
                "failed": {"type": "boolean"},
                "scanned": {
                    "type": "object",
                    "required": ["users", "groups", "roles", "policies"],
                    "properties": {k: _COUNT for k in ("users", "groups", "roles", "policies")},
                },
                "duration_s": {"type": "number", "minimum": 0},
                "notes": {"type": "array", "items": {"type": "string"}},
            },
        },
        "findings": {"type": "array", "items": _FINDING},
        "suppressed": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["finding", "ignore"],
                "properties": {"finding": _FINDING, "ignore": _IGNORE_ENTRY},
            },
        },
        "ignore": {
            "type": "object",
            "required": ["expired", "unused"],
            "properties": {
                "expired": {"type": "array", "items": _IGNORE_ENTRY},
                "unused": {"type": "array", "items": _IGNORE_ENTRY},
            },
        },
        "rules": {"type": "array", "items": {"type": "object", "required": ["id", "title", "severity", "category"]}},
    },
}
