"""`mlops audit-iam`: IAM findings for a reviewer (tables) and for CI (JSON, SARIF, exit code 1 at --fail-on)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from mlops_cli.commands._common import run, state
from mlops_cli.errors import UsageError

FORMATS = ("table", "json", "sarif")
SEVERITY_CHOICES = ("critical", "high", "medium", "low")


def _choice(value: str | None, choices: tuple[str, ...], flag: str) -> str | None:
    if value is not None and value.lower() not in choices:
        raise typer.BadParameter(f"must be one of {', '.join(choices)}", param_hint=flag)
    return value.lower() if value is not None else None


def audit_iam(
    ctx: typer.Context,
    input_file: Path | None = typer.Option(
        None,
        "--input",
        "-i",
        metavar="FILE",
        help="Audit a saved `aws iam get-account-authorization-details` JSON instead of the live account.",
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", metavar="FORMAT", help="table, json or sarif (default: table; json with -o json)."
    ),
    fail_on: str | None = typer.Option(
        None,
        "--fail-on",
        metavar="SEVERITY",
        help="Exit 1 when a finding is at or above: critical, high, medium, low or never. [config: audit.fail_on]",
    ),
    min_severity: str = typer.Option(
        "low", "--min-severity", metavar="SEVERITY", help="Hide findings below: critical, high, medium or low."
    ),
    ignore_file: Path | None = typer.Option(
        None,
        "--ignore-file",
        metavar="FILE",
        help="YAML/JSON of accepted findings (rule, arn glob, reason, expires). [config: audit.ignore_file]",
    ),
    unused_days: int | None = typer.Option(
        None, "--unused-days", min=1, metavar="N", help="Roles and keys unused for N days. [config: audit.unused_days]"
    ),
    key_age_days: int | None = typer.Option(
        None, "--key-age-days", min=1, metavar="N", help="Access keys older than N days. [config: audit.key_age_days]"
    ),
    output_file: Path | None = typer.Option(
        None,
        "--output-file",
        metavar="FILE",
        help="Write the json/sarif document here (the table still goes to the terminal).",
    ),
    save_input: Path | None = typer.Option(
        None, "--save-input", metavar="FILE", help="Live mode: also save what was read, to re-audit with --input."
    ),
) -> None:
    from mlops_cli.usecases.audit import AuditRequest, audit_iam

    started = time.perf_counter()
    fmt = _choice(fmt, FORMATS, "--format")
    fail_on = _choice(fail_on, (*SEVERITY_CHOICES, "never"), "--fail-on")
    min_severity = _choice(min_severity, SEVERITY_CHOICES, "--min-severity") or "low"
    if input_file is not None and save_input is not None:
        raise UsageError("--save-input saves a live read; it cannot be combined with --input")
    if output_file is not None and fmt in (None, "table"):
        raise UsageError("--output-file needs --format json or --format sarif")
    app_state = state(ctx)
    app_state.override(
        {
            "audit.fail_on": fail_on,
            "audit.unused_days": unused_days,
            "audit.key_age_days": key_age_days,
            "audit.ignore_file": str(ignore_file) if ignore_file else None,
        }
    )
    out = app_state.out
    request = AuditRequest(input_file, save_input, min_severity, started)
    outcome = audit_iam(app_state.config, app_state.clients, request, read=lambda planned: run(app_state, planned))
    if outcome.saved is not None:
        out.info(f"saved what was read to {outcome.saved} (re-audit it with --input)")
    for note in outcome.notes:
        out.warn(note)
    _print(app_state, outcome.report, fmt, output_file)
    failure = outcome.failure()
    if failure is not None:
        raise failure


def _print(app_state: Any, report: Any, fmt: str | None, output_file: Path | None) -> None:
    from mlops_cli.render.audit import report_table
    from mlops_cli.usecases.audit import write_document

    out = app_state.out
    chosen = fmt or ("json" if out.json else "table")
    if out.json and chosen == "table":
        chosen = "json"  # -o json promises one JSON document on stdout
    document = report.to_sarif() if chosen == "sarif" else report.to_json()
    if output_file is not None:
        write_document(output_file, document)
        out.info(f"wrote {chosen} report to {output_file}")
        chosen = "json" if out.json else "table"
        document = report.to_json()
    if chosen == "table":
        out.result(report, lambda console, data: report_table(console, data, verbose=out.verbosity > 0))
    else:
        out.result(document)
