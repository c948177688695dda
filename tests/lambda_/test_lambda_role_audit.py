"""The role `mlops lambda deploy` creates passes parliament (with its community auditors) and `mlops audit-iam`."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest


def parliament_findings(document: dict) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
        import parliament
    # What `parliament --include-community-auditors` does: load their config, then run them.
    parliament.override_config(Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml")
    policy = parliament.analyze_policy_string(json.dumps(document), include_community_auditors=True)
    return [f"{finding.issue}: {finding.detail}" for finding in policy.findings]


def test_parliament_finds_nothing_in_the_role_policy(mlops, boto_client, project, project_env):
    assert mlops("lambda", "deploy", env=project_env).exit_code == 0
    iam = boto_client("iam")
    role = f"{project}-lambda-invoke"
    [name] = iam.list_role_policies(RoleName=role)["PolicyNames"]
    live = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    assert parliament_findings(live) == []
    # The check has teeth: what the course project's role allowed is flagged.
    broad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}]}
    assert parliament_findings(broad)


def findings_about(document: object, role: str) -> list:
    """The findings in an audit-iam JSON document that mention the role."""
    findings = document.get("findings") if isinstance(document, dict) else None
    assert isinstance(findings, list), f"no findings list in the audit-iam output: {str(document)[:300]}"
    return [finding for finding in findings if role in json.dumps(finding)]


def test_audit_iam_finds_nothing_on_the_role(mlops, boto_client, project, project_env):
    assert mlops("lambda", "deploy", env=project_env).exit_code == 0
    result = mlops("-o", "json", "audit-iam", env=project_env)
    if result.exit_code == 2 and "not built yet" in result.stderr:
        pytest.skip("`mlops audit-iam` is not built yet (the audit helper's issue); this runs once it lands")
    assert result.exit_code in (0, 1), result.output  # 1: findings elsewhere in the shared local account
    role = f"{project}-lambda-invoke"
    assert findings_about(json.loads(result.stdout), role) == []

    # And the audit does see this role: give it a FullAccess policy and the finding appears.
    boto_client("iam").attach_role_policy(RoleName=role, PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    flagged = mlops("-o", "json", "audit-iam", env=project_env)
    assert findings_about(json.loads(flagged.stdout), role)
    # `mlops lambda deploy` repairs it.
    assert mlops("lambda", "deploy", env=project_env).exit_code == 0
    repaired = mlops("-o", "json", "audit-iam", env=project_env)
    assert findings_about(json.loads(repaired.stdout), role) == []
