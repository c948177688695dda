"""`audit-iam` as a person reads it: one table per severity, the least-privilege replacements, a summary line."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_cli.services.audit import Report

SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan"}


def _where(finding: Any) -> str:
    if finding.principal is not None:
        return f"{finding.principal.kind} {finding.principal.name}"
    policy = finding.policies[0]
    return f"{policy.kind} policy {policy.name}"


def report_table(out: Console, report: Report, verbose: bool = False) -> None:
    from rich.table import Table

    from mlops_cli.services.audit import RULES, SEVERITIES

    for severity in SEVERITIES:
        findings = [f for f in report.findings if f.severity == severity]
        if not findings:
            continue
        table = Table(
            title=f"{severity.upper()} ({len(findings)})",
            title_justify="left",
            title_style=SEVERITY_STYLE[severity],
            show_lines=verbose,
            expand=False,
        )
        table.add_column("Rule", no_wrap=True)
        table.add_column("Finding", overflow="fold")
        for finding in findings:
            text = finding.message
            if verbose:
                rule = RULES[finding.rule_id]
                text += f"\nwhy: {rule.why}\nfix: {rule.fix}"
            table.add_row(finding.rule_id, text)
        out.print(table)
    for finding in report.findings:
        replacement = finding.details.get("replacement_policy")
        if replacement:
            out.print(
                f"Least-privilege policy to replace the policies of {_where(finding)} ({finding.rule_id}):",
                style="bold",
            )
            out.print(json.dumps(replacement, indent=2), markup=False, highlight=False)
    for entry in report.expired_ignores:
        out.print(
            f"expired ignore entry (no longer suppresses): {entry.rule} {entry.arn} "
            f"(expired {entry.expires}; reason was: {entry.reason})",
            style="yellow",
            markup=False,
        )
    out.print(summary_line(report), markup=False)


def summary_line(report: Report) -> str:
    summary = report.summary()
    counts = ", ".join(f"{count} {severity}" for severity, count in summary["by_severity"].items())
    scanned = summary["scanned"]
    extras = [f"{summary['suppressed']} suppressed"] if summary["suppressed"] else []
    if summary["below_min_severity"]:
        extras.append(f"{summary['below_min_severity']} below --min-severity")
    if summary["expired_ignores"]:
        extras.append(f"{summary['expired_ignores']} expired ignore entries")
    fail_on = report.settings.get("fail_on", "never")
    verdict = (
        "not gated" if fail_on == "never" else ("FAIL" if summary["failed"] else "pass") + f" at --fail-on {fail_on}"
    )
    return (
        f"{summary['total']} findings ({counts})"
        + (f"; {', '.join(extras)}" if extras else "")
        + f" | {scanned['users']} users, {scanned['groups']} groups, {scanned['roles']} roles, "
        f"{scanned['policies']} policies in {summary['duration_s']:.2f} s | {verdict}"
    )


def rules_markdown() -> str:
    """The rule catalog as the Markdown table docs/audit.md carries (scripts/update_docs.py writes it there)."""
    from mlops_cli.services.audit.rules import RULES

    rows = ["| ID | Severity | Category | Finding | Fix |", "|---|---|---|---|---|"]
    rows += [
        f"| {rule.id} | {rule.severity} | {rule.category} | {rule.title} | {rule.fix} |" for rule in RULES.values()
    ]
    return "\n".join(rows) + "\n"
