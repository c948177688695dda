"""`mlops audit-iam`: the account's IAM read live (read-only calls, the plan `--dry-run` shows) or from a saved
file, then audited; documents are written whole or not at all."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import OperationError, UsageError
from mlops_cli.files import write_atomically

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan import Plan
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.audit import Report


@dataclass(frozen=True)
class AuditRequest:
    """What the flags ask for (--fail-on, --unused-days, --key-age-days and --ignore-file arrive in the config)."""

    input_file: Path | None = None  # a saved authorization-details document instead of the live account
    save_input: Path | None = None  # live: also save what was read
    min_severity: str = "low"
    started: float = field(default_factory=time.perf_counter)


@dataclass
class AuditOutcome:
    report: Report
    notes: list[str]  # what the input lacked, said before the report
    saved: Path | None  # where what was read live was saved (--save-input)
    fail_on: str

    def failure(self) -> OperationError | None:
        """Findings at or above --fail-on: exit 1."""
        failing = self.report.at_or_above(self.fail_on)
        if not failing:
            return None
        return OperationError(f"{len(failing)} finding(s) at or above {self.fail_on} (--fail-on {self.fail_on})")


def audit_iam(
    config: Config, clients: AwsClients, request: AuditRequest, read: Callable[[Planned], dict[str, Any]]
) -> AuditOutcome:
    """The audit of the saved file, or of the live account, read by `read` running the read plan (the command's
    one runner: a dry run shows the plan and ends there)."""
    from mlops_cli.services import audit

    ignores_path = config.audit.ignore_file
    ignores = audit.load_ignore_file(ignores_path) if ignores_path else []  # a bad file: exit 2 before any read
    if request.input_file is not None:
        account = audit.load_account_file(request.input_file)
        partition = "aws"
    else:
        account = audit.parse_account(read(_planned_read(clients, request.save_input)), {"kind": "live"})
        partition = clients.partition
    notes = account.notes + (
        []
        if account.has_credential_data or not account.users
        else ["the input has no access-key/console/MFA data: IAM051-054 were not checked"]
    )
    settings = audit.Settings(
        now=datetime.now(UTC),
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
        min_severity=request.min_severity,
        ignore_file=ignores_path,
        started=request.started,
    )
    return AuditOutcome(report, notes, request.save_input, config.audit.fail_on)


def write_document(path: Path, document: Any) -> None:
    """Write JSON next to the target and rename it into place: a failed write leaves nothing half-written."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{target} is a directory")
    text = json.dumps(document, indent=2, default=str) + "\n"
    try:
        write_atomically(target, lambda stream: stream.write(text.encode("utf-8")))
    except OSError as exc:
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


def _planned_read(clients: AwsClients, save_input: Path | None) -> Planned:
    """The live read: the plan lists the read-only calls; the collector sends them (per user, concurrently) and
    the result is what was read, saved to `save_input` when given."""
    from mlops_cli.plan import Answers
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services import audit

    def collect(_executor: Any, _plan: Any) -> Answers:
        data = audit.collect_account(clients.client("iam"), lambda: clients.account_id)
        if save_input is not None:
            write_document(save_input, data)
        return Answers({"account": data})

    return Planned(
        _read_plan(),
        finish=lambda answers: answers["account"],
        announce=["reading IAM (GetAccountAuthorizationDetails, then keys, console and MFA per user)..."],
        run=collect,
        reads_aws=False,  # planned from nothing: the reads are the plan
    )


def _read_plan() -> Plan:
    """--dry-run: the read-only calls a live audit makes."""
    from mlops_cli.plan import Plan

    plan = Plan("audit-iam (read-only)")
    plan.add("iam", "GetAccountAuthorizationDetails", {}, "paginated, one pass")
    for operation in ("ListAccessKeys", "GetLoginProfile", "ListMFADevices"):
        plan.add("iam", operation, {"UserName": "<each user>"}, "per user, concurrently")
    plan.add("iam", "GetAccessKeyLastUsed", {"AccessKeyId": "<each access key>"}, "per key, concurrently")
    plan.add("iam", "GetRole", {"RoleName": "<each role without RoleLastUsed>"}, "only where the details lack it")
    return plan
