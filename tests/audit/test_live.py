"""Live audit against the local AWS seeded with an ML-shaped account: every planted problem is found, the
least-privilege role comes out clean, and both machine formats validate.

moto serves no last-used dates (RoleLastUsed is empty, GetAccessKeyLastUsed says N/A), so the staleness checks
are exercised the way a reviewer would: `--save-input` snapshots the live read, the test plants old dates in the
snapshot, and `--input` re-audits it.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.helpers import LOCAL_CONFIG

from .builders import days_ago, findings, sarif_schema

PROJECT = "mlaudit"  # its own project name, so the roles never collide with other tests' digits-* roles
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
SAGEMAKER_FULL = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"


def trust(principal: dict) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        }
    )


@pytest.fixture(scope="module")
def ml_account(local_aws, boto_client, tmp_path_factory):
    """Seed the account; yields (config path, role/user names); removes everything afterwards."""
    from mlops_cli.config import load_config
    from mlops_cli.services.iam.policies import ec2_train_policy

    config_path = tmp_path_factory.mktemp("audit-live") / "config.yaml"
    config_path.write_text(
        LOCAL_CONFIG.read_text()
        .replace("project: digits", f"project: {PROJECT}")
        .replace("prefix: digits", f"prefix: {PROJECT}")
    )
    config = load_config([config_path], env={})
    iam = boto_client("iam")
    account_id = boto_client("sts").get_caller_identity()["Account"]
    roles = {
        f"{PROJECT}-sagemaker-execution": (trust({"Service": "sagemaker.amazonaws.com"}), None, [SAGEMAKER_FULL]),
        f"{PROJECT}-lambda-invoke": (
            trust({"Service": "lambda.amazonaws.com"}),
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": ["sagemaker:*", "iam:PassRole"], "Resource": "*"}],
            },
            [],
        ),
        f"{PROJECT}-open-admin": (trust({"AWS": "*"}), None, [ADMIN]),
        f"{PROJECT}-vendor-access": (
            trust({"AWS": "arn:aws:iam::999999999999:root"}),
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::mlops-local/{PROJECT}/reports/*",
                    }
                ],
            },
            [],
        ),
        # The least-privilege role: exactly what the project generates for its EC2 training instances.
        f"{PROJECT}-ec2-train": (trust({"Service": "ec2.amazonaws.com"}), ec2_train_policy(config, account_id), []),
    }
    for name, (trust_policy, inline, managed) in roles.items():
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy)
        if inline:
            iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=json.dumps(inline))
        for arn in managed:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    user = f"{PROJECT}-ci"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="deploy",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["iam:AttachUserPolicy", "iam:CreatePolicyVersion"], "Resource": "*"}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    yield config_path, {"user": user, "key": key, **{name.removeprefix(f"{PROJECT}-"): name for name in roles}}
    for name, (_, inline, managed) in roles.items():
        for arn in managed:
            iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        if inline:
            iam.delete_role_policy(RoleName=name, PolicyName=f"{name}-policy")
        iam.delete_role(RoleName=name)
    iam.delete_user_policy(UserName=user, PolicyName="deploy")
    iam.delete_access_key(UserName=user, AccessKeyId=key)
    iam.delete_user(UserName=user)


@pytest.fixture(scope="module")
def live(ml_account, tmp_path_factory):
    """One live audit (JSON) with the read saved for the offline re-audit."""
    from typer.testing import CliRunner

    from mlops_cli.app import app

    config_path, names = ml_account
    snapshot = tmp_path_factory.mktemp("audit-snapshot") / "account.json"
    result = CliRunner().invoke(
        app,
        ["-c", str(config_path), "audit-iam", "-f", "json", "--fail-on", "never", "--save-input", str(snapshot)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), snapshot, names


def test_live_audit_finds_every_planted_problem(live):
    report, _, names = live
    expected = {
        names["sagemaker-execution"]: {"IAM004", "IAM061"},  # AmazonSageMakerFullAccess; beyond the bucket prefix
        names["lambda-invoke"]: {"IAM060", "IAM011", "IAM021"},  # sagemaker:* + PassRole: more than invoke
        names["open-admin"]: {"IAM040", "IAM001"},
        names["vendor-access"]: {"IAM041"},
        names["user"]: {"IAM020"},
    }
    for name, rules in expected.items():
        found = {f["rule_id"] for f in findings(report, name=name)}
        assert rules <= found, (name, found)
    assert [f["severity"] for f in findings(report, "IAM040", names["open-admin"])] == ["critical"]
    assert [f["severity"] for f in findings(report, "IAM021", names["lambda-invoke"])] == ["critical"]
    replacement = findings(report, "IAM060", names["lambda-invoke"])[0]["details"]["replacement_policy"]
    assert replacement["Statement"][0]["Action"] == ["sagemaker:InvokeEndpoint"]
    assert replacement["Statement"][0]["Resource"].endswith(f":endpoint/{PROJECT}-endpoint")


def test_least_privilege_role_comes_out_clean(live):
    report, _, names = live
    assert findings(report, name=names["ec2-train"]) == []
    assert findings(report, name=f"{names['ec2-train']}-policy") == []


def test_only_attached_managed_policies_are_audited(live):
    report, _, _ = live
    # moto returns all ~1,580 AWS managed policies; only the attached few count.
    assert report["summary"]["scanned"]["policies"] < 100
    assert report["source"] == {"kind": "live", "account_id": "123456789012"}


def test_live_json_and_sarif_validate(live, ml_account):
    from typer.testing import CliRunner

    from mlops_cli.app import app
    from mlops_cli.services.audit import REPORT_SCHEMA

    report, _, _ = live
    jsonschema.Draft202012Validator(REPORT_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(report)
    config_path, names = ml_account
    result = CliRunner().invoke(app, ["-c", str(config_path), "audit-iam", "-f", "sarif"], catch_exceptions=False)
    assert result.exit_code == 1  # critical findings fail the default gate (high)
    sarif = json.loads(result.stdout)
    jsonschema.Draft4Validator(sarif_schema()).validate(sarif)
    names_in_results = {
        loc["logicalLocations"][0]["name"] for r in sarif["runs"][0]["results"] for loc in r["locations"]
    }
    assert names["open-admin"] in names_in_results and names["ec2-train"] not in names_in_results


def test_saved_read_with_planted_dates_finds_stale_access(live, ml_account, mlops):
    report, snapshot, names = live
    data = json.loads(snapshot.read_text())
    user = next(u for u in data["UserDetailList"] if u["UserName"] == names["user"])
    assert [k["AccessKeyId"] for k in user["AccessKeys"]] == [names["key"]] and user["MFADevices"] == []
    assert "LastUsedDate" not in user["AccessKeys"][0]  # moto: "N/A", i.e. never used
    user["AccessKeys"][0]["CreateDate"] = days_ago(200)
    role = next(r for r in data["RoleDetailList"] if r["RoleName"] == names["vendor-access"])
    role["CreateDate"], role["RoleLastUsed"] = days_ago(400), {"LastUsedDate": days_ago(150), "Region": "us-east-1"}
    snapshot.write_text(json.dumps(data))
    result = mlops("audit-iam", "--input", str(snapshot), "-f", "json", "--fail-on", "never", config=ml_account[0])
    offline = json.loads(result.stdout)
    assert {f["rule_id"] for f in findings(offline, name=names["user"])} >= {"IAM020", "IAM051", "IAM052"}
    assert findings(offline, "IAM050", names["vendor-access"])
    # Same findings as live for what does not depend on the planted dates.
    live_ids = {f["id"] for f in report["findings"]}
    assert live_ids <= {f["id"] for f in offline["findings"]}
