"""The three shared account dumps: every privilege-escalation and admin case in them is found, the known false
positives of IAM Vulnerable (fp1-fp5) stay quiet and its false negatives (fn1-fn4) are caught.
Timing is measured in bench/bench_audit.py, not here."""

from __future__ import annotations

import json

import pytest

from .builders import FIXTURES, findings

ESCALATION = {"IAM020", "IAM021", "IAM022"}
ADMIN = {"IAM001", "IAM003", "IAM010"}


def principals_with(report: dict, rules: set[str]) -> set[str]:
    return {f["principal"]["name"] for f in report["findings"] if f["rule_id"] in rules and f["principal"]}


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return FIXTURES / "example.json"


def test_fixtures_are_beside_the_repo():
    assert sorted(path.name for path in FIXTURES.glob("*.json")) == [
        "example-authz-details.json", "example.json", "example_authz_v2.json"]


def test_iam_vulnerable_escalations_all_found(audit, example):
    code, report, stderr = audit(example, "--fail-on", "never")
    assert code == 0, stderr
    data = json.loads(example.read_text())
    escalating = principals_with(report, ESCALATION)
    # Every privesc<N>/privesc-<service> test user and role of the dump, and the four false negatives.
    expected = {item[key] for items, key in (("UserDetailList", "UserName"), ("RoleDetailList", "RoleName"))
                for item in data[items]
                if item[key].startswith(("privesc", "fn")) and "AssumeRole" not in item[key]
                and item[key] not in ("privesc-permissive-role-trust", "privesc-high-priv-service-role")}
    assert len(expected) == 68
    missing = expected - escalating - principals_with(report, ADMIN)
    assert not missing, missing
    # The high-privilege service role is admin: reported as such (its policy grants * on *) and by trust.
    assert findings(report, "IAM010", "privesc-high-priv-service-policy")
    assert findings(report, "IAM042", "privesc-high-priv-service-role")


def test_iam_vulnerable_false_positives_stay_quiet(audit, example):
    _, report, _ = audit(example, "--fail-on", "never")
    flagged = principals_with(report, ESCALATION | ADMIN)
    quiet = {name for name in flagged if name.startswith("fp")}
    assert not quiet, quiet  # allow+deny, deny-all, deny iam, AWS-owned resource, expired condition


def test_combination_and_notaction_cases(audit, example):
    _, report, _ = audit(example, "--fail-on", "never")
    combined = findings(report, "IAM021", "fn1-privesc3-partial-user")
    assert combined and {p["name"] for p in combined[0]["policies"]} == {"fn1-passrole-star", "fn1-privesc3-partial"}
    not_action = findings(report, "IAM020", "fn4-exploitableNotAction-user")[0]
    assert {"PutUserPolicy", "AddUserToGroup"} <= {m["method"] for m in not_action["details"]["methods"]}
    assert "CreatePolicyVersion" not in {m["method"] for m in not_action["details"]["methods"]}


def test_admin_access_found_in_every_fixture(audit):
    expected = {
        "example.json": {"obama", "admin", "OrganizationAccountAccessRole", "AWS-QuickSetup-StackSet-Local-ExecutionRole",
                         "stacksets-exec-b5520cb2730c2f54b523d6375a319abb",
                         "AWSReservedSSO_AdministratorAccess_dc6414f7f2ab04fc"},
        "example-authz-details.json": {"obama", "admin"},
        # The v2 dump names AdministratorAccess on a group without including the policy: known by name.
        "example_authz_v2.json": {"GOAT"},
    }
    for name, admins in expected.items():
        code, report, stderr = audit(FIXTURES / name, "--fail-on", "never")
        assert code == 0, stderr
        assert {f["principal"]["name"] for f in findings(report, "IAM001")} == admins, name


def test_older_dump_escalations(audit):
    _, report, _ = audit(FIXTURES / "example-authz-details.json", "--fail-on", "never")
    assert findings(report, "IAM021", "biden")  # AWSLambdaFullAccess: PassRole + CreateFunction + Invoke
    assert findings(report, "IAM020", "OverprivilegedEC2")  # inline SupYo: iam:CreateAccessKey on *
    # Policies whose holders are not in the dump are judged alone.
    alone = findings(report, "IAM020", "IAMFullAccess")
    assert alone and alone[0]["principal"] is None


def test_findings_have_stable_ids(audit):
    first = audit(FIXTURES / "example.json", "--fail-on", "never")[1]
    second = audit(FIXTURES / "example.json", "--fail-on", "never")[1]
    assert [f["id"] for f in first["findings"]] == [f["id"] for f in second["findings"]]
    assert len({f["id"] for f in first["findings"]}) == len(first["findings"])
