"""The ignore file: accepted findings are suppressed with their reason, expired entries come back, bad files are
usage errors."""

from __future__ import annotations

import json
from datetime import date, timedelta

import jsonschema
import pytest

from .builders import Account, aws_policy, sarif_schema, trust


@pytest.fixture
def two_vendors(tmp_path):
    account = Account()
    for name in ("vendor-a", "vendor-b"):
        account.role(name, trusts=trust({"AWS": "arn:aws:iam::999999999999:root"}))
    account.role(
        "admin", attached=[aws_policy("AdministratorAccess")], trusts=trust({"AWS": "arn:aws:iam::123456789012:root"})
    )
    return account.write(tmp_path / "account.json")


def write(tmp_path, text: str):
    path = tmp_path / "ignore.yaml"
    path.write_text(text)
    return str(path)


def test_matching_entry_suppresses_with_reason(audit, two_vendors, tmp_path):
    ignore = write(
        tmp_path,
        """
ignore:
  - rule: IAM041
    arn: "arn:aws:iam::*:role/vendor-a"
    reason: "vendor integration, reviewed by security"
""",
    )
    code, report, _ = audit(two_vendors, "--ignore-file", ignore, "--fail-on", "medium")
    active = [(f["rule_id"], f["principal"]["name"]) for f in report["findings"]]
    assert ("IAM041", "vendor-b") in active and ("IAM041", "vendor-a") not in active
    [suppressed] = report["suppressed"]
    assert suppressed["finding"]["principal"]["name"] == "vendor-a"
    assert suppressed["ignore"]["reason"] == "vendor integration, reviewed by security"
    assert report["summary"]["suppressed"] == 1 and code == 1  # vendor-b and admin still fail the gate


def test_rule_globs_and_gate(audit, two_vendors, tmp_path):
    ignore = write(
        tmp_path,
        json.dumps(
            [
                {"rule": "IAM04*", "arn": "arn:aws:iam::123456789012:role/vendor-*", "reason": "both vendors accepted"},
                {"rule": "IAM001", "arn": "*:role/admin", "reason": "break-glass role"},
                {"rule": "IAM020", "arn": "*", "reason": "matches nothing here"},
            ]
        ),
    )
    code, report, _ = audit(two_vendors, "--ignore-file", ignore, "--fail-on", "low")
    assert report["findings"] == [] and code == 0
    assert [entry["rule"] for entry in report["ignore"]["unused"]] == ["IAM020"]


def test_expired_entry_is_reported_and_no_longer_suppresses(mlops, audit, two_vendors, tmp_path):
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    ignore = write(
        tmp_path,
        f"""
- rule: IAM001
  arn: "*:role/admin"
  reason: "temporary admin for the migration"
  expires: {yesterday}
- rule: IAM041
  arn: "*:role/vendor-*"
  reason: "accepted until the end of the year"
  expires: {(date.today() + timedelta(days=30)).isoformat()}
""",
    )
    code, report, _ = audit(two_vendors, "--ignore-file", ignore)
    assert [f["rule_id"] for f in report["findings"]] == ["IAM001"] and code == 1
    assert report["ignore"]["expired"] == [
        {"rule": "IAM001", "arn": "*:role/admin", "expires": yesterday, "reason": "temporary admin for the migration"}
    ]
    table = mlops("audit-iam", "--input", str(two_vendors), "--ignore-file", ignore, "--fail-on", "never")
    assert "expired ignore entry (no longer suppresses): IAM001" in table.stdout
    assert "2 suppressed" in table.stdout and "1 expired ignore entries" in table.stdout


def test_config_names_the_default_ignore_file(audit, two_vendors, tmp_path):
    ignore = write(tmp_path, "- {rule: IAM001, arn: '*', reason: accepted}\n")
    _, report, _ = audit(two_vendors, "--fail-on", "never", env={"MLOPS_AUDIT__IGNORE_FILE": ignore})
    assert report["settings"]["ignore_file"] == ignore and report["summary"]["suppressed"] == 1


def test_suppressed_findings_are_sarif_suppressions(mlops, two_vendors, tmp_path):
    ignore = write(tmp_path, "- {rule: IAM001, arn: '*', reason: break-glass}\n")
    result = mlops(
        "audit-iam", "--input", str(two_vendors), "--ignore-file", ignore, "-f", "sarif", "--fail-on", "never"
    )
    sarif = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(sarif)
    suppressed = [r for r in sarif["runs"][0]["results"] if r.get("suppressions")]
    assert [(r["ruleId"], r["suppressions"][0]["justification"]) for r in suppressed] == [("IAM001", "break-glass")]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("- {rule: IAM999, arn: '*', reason: x}", "matches no rule ID"),
        ("- {rule: IAM001, arn: '*'}", "`reason` is required"),
        ("- {rule: IAM001, arn: '*', reason: x, expires: soon}", "`expires` must be a date"),
        ("- {rule: IAM001, arn: '*', reason: x, owner: me}", "unknown key(s) owner"),
        ("rule: IAM001", "expected a list of entries"),
        ("- [unclosed", "invalid YAML"),
    ],
)
def test_bad_ignore_file_is_a_usage_error(mlops, two_vendors, tmp_path, text, expected):
    result = mlops("audit-iam", "--input", str(two_vendors), "--ignore-file", write(tmp_path, text))
    assert result.exit_code == 2 and expected in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_missing_ignore_file(mlops, two_vendors, tmp_path):
    result = mlops("audit-iam", "--input", str(two_vendors), "--ignore-file", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "ignore file not found" in result.stderr
