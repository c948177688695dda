"""The ignore file: accepted findings, each with a reason and an optional expiry.

YAML or JSON, either a list or a mapping with an `ignore:` list:

    ignore:
      - rule: IAM041                                   # a rule ID, or a glob such as IAM05*
        arn: "arn:aws:iam::*:role/OrganizationAccountAccessRole"   # glob on the principal or policy ARN
        reason: "management account access, reviewed by security 2025-01"
        expires: 2025-12-31                            # optional; after it the entry stops suppressing

Expired entries are reported and suppress nothing, so an accepted risk comes back for review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mlops_cli.errors import UsageError, read_user_file
from mlops_cli.services.audit.findings import Finding
from mlops_cli.services.audit.policy import glob_match
from mlops_cli.services.audit.rules import RULES

FIELDS = {"rule", "arn", "reason", "expires"}


@dataclass(frozen=True)
class IgnoreEntry:
    rule: str
    arn: str
    reason: str
    expires: date | None
    index: int

    def matches(self, finding: Finding) -> bool:
        return glob_match(self.rule, finding.rule_id, ignore_case=True) and any(
            glob_match(self.arn, arn) for arn in finding.arns
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "arn": self.arn,
            "reason": self.reason,
            "expires": self.expires.isoformat() if self.expires else None,
        }


@dataclass
class IgnoreOutcome:
    active: list[Finding]
    suppressed: list[tuple[Finding, IgnoreEntry]] = field(default_factory=list)
    expired: list[IgnoreEntry] = field(default_factory=list)
    unused: list[IgnoreEntry] = field(default_factory=list)


def load_ignore_file(path: str | Path) -> list[IgnoreEntry]:
    from mlops_cli import documents

    file = Path(path)
    text = read_user_file(file, "ignore file", documents.IGNORE_FILE.max_bytes)
    data = documents.load_yaml(text, str(file), documents.IGNORE_FILE)[0]
    if isinstance(data, dict) and set(data) == {"ignore"}:
        data = data["ignore"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise UsageError(f"{file}: expected a list of entries (or a mapping with an `ignore:` list)")
    return [_entry(file, index, item) for index, item in enumerate(data)]


def _entry(file: Path, index: int, item: Any) -> IgnoreEntry:
    where = f"{file}: entry {index + 1}"
    if not isinstance(item, dict):
        raise UsageError(f"{where}: expected a mapping with rule, arn, reason (and optional expires)")
    unknown = set(item) - FIELDS
    if unknown:
        raise UsageError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; expected {', '.join(sorted(FIELDS))}"
        )
    for key in ("rule", "arn", "reason"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise UsageError(f"{where}: `{key}` is required and must be a non-empty string")
    rule = item["rule"].strip()
    if not any(glob_match(rule, rule_id, ignore_case=True) for rule_id in RULES):
        raise UsageError(f"{where}: rule {rule!r} matches no rule ID (known: {min(RULES)}..{max(RULES)})")
    return IgnoreEntry(
        rule=rule,
        arn=item["arn"].strip(),
        reason=item["reason"].strip(),
        expires=_expiry(where, item.get("expires")),
        index=index,
    )


def _expiry(where: str, value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise UsageError(f"{where}: `expires` must be a date (YYYY-MM-DD), not {value!r}") from None


def apply_ignores(findings: list[Finding], entries: list[IgnoreEntry], today: date) -> IgnoreOutcome:
    live = [entry for entry in entries if entry.expires is None or entry.expires >= today]
    outcome = IgnoreOutcome(active=[], expired=[entry for entry in entries if entry not in live])
    used: set[int] = set()
    for finding in findings:
        entry = next((entry for entry in live if entry.matches(finding)), None)
        if entry is None:
            outcome.active.append(finding)
        else:
            outcome.suppressed.append((finding, entry))
            used.add(entry.index)
    outcome.unused = [entry for entry in live if entry.index not in used]
    return outcome
