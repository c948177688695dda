"""The command's contract for CI: exit codes at --fail-on, the output formats and their schemas, bad input."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from .builders import ACCOUNT, Account, allow, doc, sarif_schema


@pytest.fixture
def one_medium_one_low(tmp_path):
    """An account with exactly one medium finding (IAM011) and one low finding (IAM013)."""
    account = Account()
    account.role("app", doc(allow("cloudwatch:*"), allow("ec2:StartInstances")))
    return account.write(tmp_path / "account.json")


@pytest.mark.parametrize("fail_on,code", [("critical", 0), ("high", 0), ("medium", 1), ("low", 1), ("never", 0)])
def test_fail_on_sets_the_exit_code(mlops, one_medium_one_low, fail_on, code):
    result = mlops("audit-iam", "--input", str(one_medium_one_low), "--fail-on", fail_on)
    assert result.exit_code == code, result.stderr
    assert "Traceback" not in result.output
    if code:
        assert "at or above" in result.stderr and f"--fail-on {fail_on}" in result.stderr
    assert ("FAIL" if code else "pass" if fail_on != "never" else "not gated") in result.stdout


def test_fail_on_defaults_to_config(mlops, one_medium_one_low):
    assert mlops("audit-iam", "--input", str(one_medium_one_low)).exit_code == 0  # default: high
    result = mlops("audit-iam", "--input", str(one_medium_one_low), env={"MLOPS_AUDIT__FAIL_ON": "medium"})
    assert result.exit_code == 1
    assert mlops("audit-iam", "--input", str(one_medium_one_low), "--fail-on", "bogus").exit_code == 2


def test_min_severity_hides_and_ungates(audit, one_medium_one_low):
    code, report, _ = audit(one_medium_one_low, "--min-severity", "medium", "--fail-on", "low")
    assert [f["rule_id"] for f in report["findings"]] == ["IAM011"]
    assert report["summary"]["below_min_severity"] == 1 and code == 1
    code, report, _ = audit(one_medium_one_low, "--min-severity", "high", "--fail-on", "low")
    assert report["findings"] == [] and code == 0


def test_json_report_matches_its_schema(audit, one_medium_one_low):
    from mlops_cli.services.audit import REPORT_SCHEMA, SCHEMA_VERSION

    _, report, _ = audit(one_medium_one_low, "--fail-on", "never")
    jsonschema.Draft202012Validator(REPORT_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(report)
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["summary"]["by_severity"] == {"critical": 0, "high": 0, "medium": 1, "low": 1}
    # The schema is strict enough to catch a broken report.
    report["findings"][0]["severity"] = "urgent"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, REPORT_SCHEMA)


def test_global_output_json_is_honoured(mlops, one_medium_one_low):
    result = mlops("-o", "json", "audit-iam", "--input", str(one_medium_one_low))
    assert json.loads(result.stdout)["schema_version"]
    result = mlops("audit-iam", "--input", str(one_medium_one_low), "-o", "json", "--format", "table")
    assert json.loads(result.stdout)["findings"]  # -o json promises one JSON document


def test_sarif_validates_against_the_sarif_2_1_0_schema(mlops, tmp_path):
    from .sample_account import build

    dump = build().account.write(tmp_path / "sample-account.json")
    result = mlops("audit-iam", "--input", str(dump), "--format", "sarif", "--fail-on", "never")
    assert result.exit_code == 0, result.stderr
    sarif = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(sarif)
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert all(rule["help"]["text"] and rule["properties"]["security-severity"] for rule in rules)
    result_ = next(r for r in run["results"] if r["ruleId"] == "IAM020")
    assert rules[result_["ruleIndex"]]["id"] == "IAM020"
    location = result_["locations"][0]
    logical = location["logicalLocations"][0]
    assert logical["fullyQualifiedName"].startswith("arn:aws:iam::") and logical["kind"] in ("user", "role")
    assert (
        location["physicalLocation"]["artifactLocation"]["uri"]
        == f"aws/{ACCOUNT}/iam/{logical['kind']}/{logical['name']}"
    )
    assert result_["partialFingerprints"]["mlopsFinding/v1"]


def test_output_file_gets_the_document_and_the_terminal_the_table(mlops, one_medium_one_low, tmp_path):
    target = tmp_path / "results.sarif"
    result = mlops(
        "audit-iam",
        "--input",
        str(one_medium_one_low),
        "--format",
        "sarif",
        "--output-file",
        str(target),
        "--fail-on",
        "never",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(target.read_text())["version"] == "2.1.0"
    assert "MEDIUM (1)" in result.stdout and "IAM011" in result.stdout
    assert mlops("audit-iam", "--input", str(one_medium_one_low), "--output-file", str(target)).exit_code == 2
    assert (
        mlops("audit-iam", "--input", str(one_medium_one_low), "-f", "json", "--output-file", str(tmp_path)).exit_code
        == 2
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


@pytest.mark.parametrize(
    "content,expected",
    [
        ("{not json", "not valid JSON (line 1"),
        ("[]", "expected an object with UserDetailList"),
        ('{"RoleDetailList": {}}', "RoleDetailList: expected a list"),
        ('{"RoleDetailList": [{"RoleName": "r"}]}', "RoleDetailList[0]: missing Arn"),
        (
            '{"UserDetailList": [{"UserName": "u", "Arn": "arn:aws:iam::1:user/u", "UserPolicyList": '
            '[{"PolicyName": "p", "PolicyDocument": {"Statement": '
            '[{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}}]}]}',
            "UserPolicyList[0] (p).PolicyDocument: Statement[0].Effect must be Allow or Deny",
        ),
        (
            '{"Policies": [{"Arn": "arn:aws:iam::1:policy/p", "DefaultVersionId": "v2", "PolicyVersionList": '
            '[{"VersionId": "v1", "IsDefaultVersion": false, "Document": {}}]}]}',
            "no default version",
        ),
        (
            '{"RoleDetailList": [{"RoleName": "r", "Arn": "arn:aws:iam::1:role/r", "CreateDate": "yesterday"}]}',
            "RoleDetailList[0].CreateDate: not a date",
        ),
        (
            '{"GroupDetailList": [{"GroupName": "g", "Arn": "arn:aws:iam::1:group/g", "GroupPolicyList": '
            '[{"PolicyName": "p", "PolicyDocument": "%7Bnot"}]}]}',
            "policy document: not valid JSON",
        ),
    ],
)
def test_malformed_input_is_a_clear_usage_error(mlops, tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = mlops("audit-iam", "--input", str(path))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


def test_missing_input_file_and_directory(mlops, tmp_path):
    for path, expected in ((tmp_path / "absent.json", "input file not found"), (tmp_path, "is a directory")):
        result = mlops("audit-iam", "--input", str(path))
        assert result.exit_code == 2 and expected in result.stderr


def test_url_encoded_documents_are_read(audit, tmp_path):
    from urllib.parse import quote

    account = Account()
    account.role("app")
    role = account.data["RoleDetailList"][0]
    role["RolePolicyList"] = [
        {"PolicyName": "encoded", "PolicyDocument": quote(json.dumps(doc(allow("iam:PutRolePolicy"))))}
    ]
    role["AssumeRolePolicyDocument"] = quote(json.dumps(role["AssumeRolePolicyDocument"]))
    _, report, _ = audit(account, "--fail-on", "never")
    assert [f["rule_id"] for f in report["findings"] if f["rule_id"] == "IAM020"] == ["IAM020"]


def test_save_input_only_for_live_reads(mlops, one_medium_one_low, tmp_path):
    result = mlops("audit-iam", "--input", str(one_medium_one_low), "--save-input", str(tmp_path / "x.json"))
    assert result.exit_code == 2 and "--save-input" in result.stderr


def test_dry_run_prints_the_read_only_calls(mlops):
    result = mlops("-o", "json", "--dry-run", "audit-iam")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    operations = [step["operation"] for step in plan["steps"]]
    assert plan["dry_run"] and operations[0] == "GetAccountAuthorizationDetails"
    assert {"ListAccessKeys", "GetAccessKeyLastUsed", "GetLoginProfile", "ListMFADevices"} <= set(operations)


def test_the_audit_runs_without_cyclic_garbage_collection(tmp_path):
    """The collector re-walking the growing account graph was the audit's whole superlinear cost (gc_pause.py):
    reading and auditing a few hundred roles triggers no collection but the one it owes once it is back on
    after each (unpaused: dozens), and the collector is on again afterwards."""
    import gc
    from datetime import UTC, datetime

    from mlops_cli.services.audit import Settings, load_account_file, run_audit

    account = Account()
    for index in range(300):
        account.role(f"app-{index}", doc(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/app-*"), allow("s3:*")))
    path = account.write(tmp_path / "account.json")
    collections: list[dict] = []
    gc.callbacks.append(lambda phase, info: collections.append(info) if phase == "start" else None)
    try:
        report = run_audit(load_account_file(path), Settings(now=datetime(2026, 1, 1, tzinfo=UTC)))
    finally:
        gc.callbacks.pop()
    assert len(report.findings) >= 300 and len(collections) <= 2 and gc.isenabled()


def test_forced_colour_off_a_terminal_never_cuts_identifiers(mlops, one_medium_one_low):
    """FORCE_COLOR / TTY_COMPATIBLE (common in CI) make rich call a pipe a terminal COLUMNS wide; the stream
    itself is no terminal, so the table keeps every identifier whole for `| cat` and a CI log."""
    plain = mlops("audit-iam", "--input", str(one_medium_one_low))
    forced = mlops(
        "audit-iam",
        "--input",
        str(one_medium_one_low),
        env={"FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "40"},
    )
    tables = [re.sub(r"\x1b\[[0-9;]*m", "", result.stdout).splitlines()[:-1] for result in (plain, forced)]
    assert tables[1] == tables[0] and "…" not in plain.stdout  # the last line differs in its timing
