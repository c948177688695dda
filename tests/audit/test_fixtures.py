"""The project's own account dump (tests/audit/sample_account.py): every admin, wildcard, privilege-escalation,
trust and staleness case in it is found for the right principal, and the cases that must stay quiet do.
The public dumps in ../shared are an optional input of bench/bench_audit.py only. Timing is measured there."""

from __future__ import annotations

import json

import pytest

from mlops_cli.services.audit.actions import ESCALATION_METHODS

from .builders import findings
from .sample_account import Sample, build, escalation_user


@pytest.fixture(scope="module")
def sample() -> Sample:
    return build()


@pytest.fixture(scope="module")
def dump(sample, tmp_path_factory):
    return sample.account.write(tmp_path_factory.mktemp("iam") / "sample-account.json")


@pytest.fixture(scope="module")
def report(dump):
    from typer.testing import CliRunner

    from mlops_cli.app import app

    result = CliRunner().invoke(app, ["audit-iam", "--input", str(dump), "-f", "json", "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rules_by_principal(report: dict) -> dict[str, set[str]]:
    raised: dict[str, set[str]] = {}
    for finding in report["findings"]:
        if finding["principal"]:
            raised.setdefault(finding["principal"]["name"], set()).add(finding["rule_id"])
    return raised


def test_the_script_writes_the_dump(tmp_path):
    from .sample_account import main

    assert main([str(tmp_path / "out.json")]) == 0
    data = json.loads((tmp_path / "out.json").read_text())
    assert {"UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"} <= data.keys()


def test_every_expected_finding_is_raised(sample, report):
    raised = rules_by_principal(report)
    missing = {
        name: rules - raised.get(name, set())
        for name, rules in sample.expected.items()
        if rules - raised.get(name, set())
    }
    assert not missing, missing


def test_quiet_cases_stay_quiet(sample, report):
    raised = rules_by_principal(report)
    noisy = {
        name: rules & raised.get(name, set()) for name, rules in sample.quiet.items() if rules & raised.get(name, set())
    }
    assert not noisy, noisy  # allow+deny, deny-all, deny iam, self-service, AWS-owned and absent resources


@pytest.mark.parametrize("method", ESCALATION_METHODS, ids=lambda method: method.name)
def test_each_escalation_path_is_named(report, method):
    found = findings(report, method.rule_id, escalation_user(method.name))
    assert found, f"{method.name} not reported"
    assert method.name in {m["method"] for m in found[0]["details"]["methods"]}


def test_split_and_not_action_and_conditional_cases(report):
    split = findings(report, "IAM021", "split-passrole")[0]
    assert {p["name"] for p in split["policies"]} == {"split-passrole-inline-0", "split-passrole-inline-1"}
    not_action = findings(report, "IAM020", "not-action")[0]
    methods = {m["method"] for m in not_action["details"]["methods"]}
    assert {"PutUserPolicy", "AddUserToGroup"} <= methods and "CreatePolicyVersion" not in methods
    conditional = findings(report, "IAM020", "conditional-attach")[0]
    assert conditional["severity"] != "critical"  # narrowed by a condition: lowered, still reported


def test_administrators_exactly(report):
    assert {f["principal"]["name"] for f in findings(report, "IAM001")} == {"admin-attached", "admin-lambda"}


def test_findings_have_stable_ids(dump):
    from typer.testing import CliRunner

    from mlops_cli.app import app

    runs = [
        json.loads(
            CliRunner().invoke(app, ["audit-iam", "--input", str(dump), "-f", "json", "--fail-on", "never"]).stdout
        )
        for _ in range(2)
    ]
    ids = [[f["id"] for f in run["findings"]] for run in runs]
    assert ids[0] == ids[1] and len(set(ids[0])) == len(ids[0])
