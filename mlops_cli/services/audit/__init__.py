"""`audit-iam`: an IAM auditor for a security reviewer and a CI gate.

    account = load_account_file(path)            # or parse_account(collect_account(iam), {"kind": "live"})
    report = run_audit(account, Settings(now=...), ignores=load_ignore_file(...), fail_on="high")
    report.to_json() / report.to_sarif() / report.at_or_above("high")

Modules: `model` (input -> normalized account), `collect` (live AWS), `policy` (matching, conditions),
`actions` (compact action tables), `rules` (the catalog), `findings` (what a check reports), `effective`
(effective permissions and escalation paths), `checks` (the findings), `ignore`, `report`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from mlops_cli.services.audit.checks import run_checks
from mlops_cli.services.audit.collect import collect_account
from mlops_cli.services.audit.findings import Finding, Settings
from mlops_cli.services.audit.gc_pause import gc_paused
from mlops_cli.services.audit.ignore import IgnoreEntry, apply_ignores, load_ignore_file
from mlops_cli.services.audit.model import Account, load_account_file, parse_account
from mlops_cli.services.audit.report import REPORT_SCHEMA, SCHEMA_VERSION, Report
from mlops_cli.services.audit.rules import RULES, SEVERITIES, SEVERITY_RANK

__all__ = [
    "Account",
    "Finding",
    "IgnoreEntry",
    "REPORT_SCHEMA",
    "RULES",
    "Report",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "Settings",
    "collect_account",
    "load_account_file",
    "load_ignore_file",
    "parse_account",
    "run_audit",
]


@gc_paused
def run_audit(
    account: Account,
    settings: Settings,
    *,
    ignores: list[IgnoreEntry] | None = None,
    fail_on: str = "high",
    min_severity: str = "low",
    ignore_file: str | None = None,
    started: float | None = None,
) -> Report:
    """Run every check, apply the ignore entries, drop what is below `min_severity`."""
    started = time.perf_counter() if started is None else started
    outcome = apply_ignores(run_checks(account, settings), ignores or [], settings.now.date())
    shown = [f for f in outcome.active if SEVERITY_RANK[f.severity] >= SEVERITY_RANK[min_severity]]
    return Report(
        account=account,
        findings=shown,
        suppressed=outcome.suppressed,
        expired_ignores=outcome.expired,
        unused_ignores=outcome.unused,
        below_min_severity=len(outcome.active) - len(shown),
        settings={
            "fail_on": fail_on,
            "min_severity": min_severity,
            "unused_days": settings.unused_days,
            "key_age_days": settings.key_age_days,
            "ignore_file": ignore_file,
        },
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=time.perf_counter() - started,
    )
