"""`mlops audit-iam`: IAM findings for a reviewer (tables) and for CI (JSON, SARIF, exit code 1 at --fail-on)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import typer

from mlops_cli.commands._common import state
from mlops_cli.errors import OperationError, UsageError

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
    from mlops_cli.services import audit

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
    config = app_state.config
    out = app_state.out
    ignores_path = config.audit.ignore_file
    ignores = audit.load_ignore_file(ignores_path) if ignores_path else []

    if input_file is not None:
        account = audit.load_account_file(input_file)
        partition = "aws"
    else:
        if app_state.dry_run:
            out.plan(_read_plan())
            return
        clients = app_state.clients
        out.info("reading IAM (GetAccountAuthorizationDetails, then keys, console and MFA per user)...")
        data = audit.collect_account(clients.client("iam"), lambda: clients.account_id)
        if save_input is not None:
            _write_atomically(save_input, data)
            out.info(f"saved what was read to {save_input} (re-audit it with --input)")
        account = audit.parse_account(data, {"kind": "live"})
        partition = clients.partition
    for note in account.notes + (
        []
        if account.has_credential_data or not account.users
        else ["the input has no access-key/console/MFA data: IAM051-054 were not checked"]
    ):
        out.warn(note)

    settings = audit.Settings(
        now=_now(),
        unused_days=config.audit.unused_days,
        key_age_days=config.audit.key_age_days,
        config=config,
        partition=partition,
    )
    report = audit.run_audit(
        account,
        settings,
        ignores=ignores,
        fail_on=config.audit.fail_on,
        min_severity=min_severity,
        ignore_file=ignores_path,
        started=started,
    )
    _print(app_state, report, fmt, output_file)
    failing = report.at_or_above(config.audit.fail_on)
    if failing:
        raise OperationError(
            f"{len(failing)} finding(s) at or above {config.audit.fail_on} (--fail-on {config.audit.fail_on})"
        )


def _now() -> Any:
    from datetime import datetime

    return datetime.now(UTC)


def _print(app_state: Any, report: Any, fmt: str | None, output_file: Path | None) -> None:
    from mlops_cli.render.audit import report_table

    out = app_state.out
    chosen = fmt or ("json" if out.json else "table")
    if out.json and chosen == "table":
        chosen = "json"  # -o json promises one JSON document on stdout
    document = report.to_sarif() if chosen == "sarif" else report.to_json()
    if output_file is not None:
        _write_atomically(output_file, document)
        out.info(f"wrote {chosen} report to {output_file}")
        chosen = "json" if out.json else "table"
        document = report.to_json()
    if chosen == "table":
        out.result(report, lambda console, data: report_table(console, data, verbose=out.verbosity > 0))
    else:
        out.result(document)


def _write_atomically(path: Path, document: Any) -> None:
    """Write JSON next to the target and rename it into place: a failed write leaves nothing half-written."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{target} is a directory")
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2, default=str)
            stream.write("\n")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_plan() -> Any:
    """--dry-run: the read-only calls a live audit makes."""
    from mlops_cli.plan import Plan

    plan = Plan("audit-iam (read-only)")
    plan.add("iam", "GetAccountAuthorizationDetails", {}, "paginated, one pass")
    for operation in ("ListAccessKeys", "GetLoginProfile", "ListMFADevices"):
        plan.add("iam", operation, {"UserName": "<each user>"}, "per user, concurrently")
    plan.add("iam", "GetAccessKeyLastUsed", {"AccessKeyId": "<each access key>"}, "per key, concurrently")
    plan.add("iam", "GetRole", {"RoleName": "<each role without RoleLastUsed>"}, "only where the details lack it")
    return plan
