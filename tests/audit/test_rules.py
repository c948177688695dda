"""Every rule fires on a minimal account that has the problem, and stays quiet on a near-identical one that
does not (the negative case is the nearest safe variant, so it proves the rule discriminates)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import LOCAL_CONFIG

from .builders import ACCOUNT, Account, allow, aws_policy, days_ago, deny, doc, findings, trust

LAMBDA_TRUST = trust({"Service": "lambda.amazonaws.com"})


def project_config():
    from mlops_cli.config import load_config

    return load_config([LOCAL_CONFIG], env={})


# Each case: rule, the principal or policy name the finding is about, then builders for the positive and the
# negative account.
Build = Callable[[Account], None]
CASES: list[tuple[str, str, Build, Build]] = [
    (
        "IAM001",
        "ops",
        lambda a: a.role("ops", attached=[aws_policy("AdministratorAccess")]),
        lambda a: a.role("ops", attached=[aws_policy("ViewOnlyAccess")]),
    ),
    (
        "IAM002",
        "ops",
        lambda a: a.role("ops", attached=[aws_policy("PowerUserAccess")]),
        lambda a: a.role("ops", attached=[aws_policy("ReadOnlyAccess")]),
    ),
    (
        "IAM003",
        "ops",
        lambda a: a.user("ops", attached=[aws_policy("IAMFullAccess")]),
        lambda a: a.user("ops", attached=[aws_policy("IAMReadOnlyAccess")]),
    ),
    (
        "IAM004",
        "data",
        lambda a: a.group("data", attached=[a.managed("AmazonS3FullAccess", doc(allow("s3:*")), aws=True)]),
        lambda a: a.group(
            "data", attached=[a.managed("AmazonS3ReadOnlyAccess", doc(allow(["s3:Get*", "s3:List*"])), aws=True)]
        ),
    ),
    (
        "IAM010",
        "god",
        lambda a: a.role("app", attached=[a.managed("god", doc(allow("*")))]),
        lambda a: a.role("app", attached=[a.managed("god", doc(allow("*", "arn:aws:s3:::one-bucket/*")))]),
    ),
    (
        "IAM011",
        "app",
        lambda a: a.role("app", doc(allow("dynamodb:*"))),
        lambda a: a.role("app", doc(allow("dynamodb:GetItem"))),
    ),
    (
        "IAM012",
        "app",
        lambda a: a.role("app", doc(allow("s3:PutBucketPolicy"))),
        lambda a: a.role("app", doc(allow("s3:PutBucketPolicy", "arn:aws:s3:::app-bucket"))),
    ),
    (
        "IAM013",
        "app",
        lambda a: a.role("app", doc(allow("ec2:TerminateInstances"))),
        lambda a: a.role("app", doc(allow("ec2:DescribeInstances"))),
    ),
    (
        "IAM014",
        "app",
        lambda a: a.role("app", doc({"Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"})),
        lambda a: a.role(
            "app",
            doc(
                allow("s3:GetObject", "arn:aws:s3:::b/*"),
                {"Effect": "Deny", "NotAction": ["s3:GetObject"], "Resource": "*"},
            ),
        ),
    ),
    (
        "IAM015",
        "app",
        lambda a: a.role("app", doc({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::x/*"})),
        lambda a: a.role(
            "app",
            doc(
                allow("s3:GetObject", "arn:aws:s3:::b/*"),
                {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::b/*"},
            ),
        ),
    ),
    (
        "IAM020",
        "ci",
        lambda a: a.user("ci", doc(allow("iam:AttachUserPolicy"))),
        # Another policy's unconditional Deny takes the permission away.
        lambda a: a.user("ci", doc(allow("iam:AttachUserPolicy")), doc(deny("iam:*"))),
    ),
    (
        "IAM021",
        "trainer",
        lambda a: a.user("trainer", doc(allow(["iam:PassRole", "sagemaker:CreateTrainingJob"]))),
        # PassRole only to a role holding nothing that escalates.
        lambda a: a.role("weak", doc(allow("s3:GetObject", "arn:aws:s3:::b/*"))).user(
            "trainer",
            doc(allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/weak"), allow("sagemaker:CreateTrainingJob")),
        ),
    ),
    (
        "IAM022",
        "dev",
        lambda a: a.user("dev", doc(allow("lambda:UpdateFunctionCode"))),
        lambda a: a.user("dev", doc(allow(["lambda:GetFunction", "lambda:ListFunctions"]))),
    ),
    (
        "IAM030",
        "app",
        lambda a: a.role("app", doc(allow("secretsmanager:GetSecretValue"))),
        lambda a: a.role(
            "app",
            doc(allow("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:app-*")),
        ),
    ),
    (
        "IAM031",
        "app",
        lambda a: a.role("app", doc(allow("sts:AssumeRole"))),
        # ecr:GetAuthorizationToken only returns a token for the caller's own permissions: deliberately not flagged.
        lambda a: a.role("app", doc(allow("ecr:GetAuthorizationToken"))),
    ),
    (
        "IAM040",
        "open",
        lambda a: a.role("open", trusts=trust({"AWS": "*"})),
        lambda a: a.role("open", trusts=trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})),
    ),
    (
        "IAM041",
        "vendor",
        lambda a: a.role("vendor", trusts=trust({"AWS": "arn:aws:iam::999999999999:root"})),
        lambda a: a.role(
            "vendor",
            trusts=trust(
                {"AWS": "arn:aws:iam::999999999999:root"}, Condition={"StringEquals": {"sts:ExternalId": "3f9c1e"}}
            ),
        ),
    ),
    (
        "IAM042",
        "job",
        lambda a: a.role(
            "job", trusts=trust({"Service": "glue.amazonaws.com"}), attached=[aws_policy("AdministratorAccess")]
        ),
        lambda a: a.role(
            "job", trusts=trust({"Service": "glue.amazonaws.com"}), attached=[aws_policy("ViewOnlyAccess")]
        ),
    ),
    (
        "IAM043",
        "deploy",
        lambda a: a.role(
            "deploy",
            trusts=trust(
                {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
                "sts:AssumeRoleWithWebIdentity",
                Condition={"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}},
            ),
        ),
        lambda a: a.role(
            "deploy",
            trusts=trust(
                {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
                "sts:AssumeRoleWithWebIdentity",
                Condition={
                    "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/ml:ref:refs/heads/main"}
                },
            ),
        ),
    ),
    (
        "IAM050",
        "old",
        lambda a: a.role("old", created=days_ago(400), last_used=days_ago(200)),
        lambda a: a.role("old", created=days_ago(400), last_used=days_ago(10)),
    ),
    (
        "IAM051",
        "ci",
        lambda a: a.user(
            "ci",
            keys=[
                {"AccessKeyId": "AKIAOLD", "Status": "Active", "CreateDate": days_ago(200), "LastUsedDate": days_ago(1)}
            ],
        ),
        lambda a: a.user(
            "ci",
            keys=[
                {"AccessKeyId": "AKIANEW", "Status": "Active", "CreateDate": days_ago(20), "LastUsedDate": days_ago(1)}
            ],
        ),
    ),
    (
        "IAM052",
        "ci",
        lambda a: a.user(
            "ci",
            keys=[
                {"AccessKeyId": "AKIAIDLE", "Status": "Active", "CreateDate": days_ago(89)},
                {
                    "AccessKeyId": "AKIASTALE",
                    "Status": "Active",
                    "CreateDate": days_ago(85),
                    "LastUsedDate": days_ago(100),
                },
            ],
        ),
        lambda a: a.user(
            "ci",
            keys=[
                {"AccessKeyId": "AKIAIDLE", "Status": "Active", "CreateDate": days_ago(89)},
                {
                    "AccessKeyId": "AKIAOFF",
                    "Status": "Inactive",
                    "CreateDate": days_ago(85),
                    "LastUsedDate": days_ago(100),
                },
            ],
        ),
    ),
    (
        "IAM053",
        "ci",
        lambda a: a.user(
            "ci",
            keys=[
                {"AccessKeyId": f"AKIA{i}", "Status": "Active", "CreateDate": days_ago(5), "LastUsedDate": days_ago(1)}
                for i in range(2)
            ],
        ),
        lambda a: a.user(
            "ci",
            keys=[
                {"AccessKeyId": f"AKIA{i}", "Status": status, "CreateDate": days_ago(5), "LastUsedDate": days_ago(1)}
                for i, status in enumerate(["Active", "Inactive"])
            ],
        ),
    ),
    (
        "IAM054",
        "alice",
        lambda a: a.user("alice", keys=[], console=True, mfa=0),
        lambda a: a.user("alice", keys=[], console=True, mfa=1),
    ),
    (
        "IAM060",
        "digits-lambda-invoke",
        lambda a: a.role("digits-lambda-invoke", doc(allow("sagemaker:*"))),
        lambda a: a.role("digits-lambda-invoke", _generated("lambda_invoke_policy")),
    ),
    (
        "IAM061",
        "digits-sagemaker-execution",
        lambda a: a.role(
            "digits-sagemaker-execution",
            _generated("sagemaker_execution_policy"),
            doc(allow("s3:GetObject", "arn:aws:s3:::mlops-local/other-project/*")),
            trusts=trust({"Service": "sagemaker.amazonaws.com"}),
        ),
        lambda a: a.role(
            "digits-sagemaker-execution",
            _generated("sagemaker_execution_policy"),
            trusts=trust({"Service": "sagemaker.amazonaws.com"}),
        ),
    ),
    (
        "IAM063",
        "digits-sagemaker-endpoint",
        # Writing the training code is what a compromised inference container must not be able to do.
        lambda a: a.role(
            "digits-sagemaker-endpoint",
            _generated("sagemaker_endpoint_policy"),
            doc(allow("s3:PutObject", "arn:aws:s3:::mlops-local/digits/code/*")),
            trusts=trust({"Service": "sagemaker.amazonaws.com"}),
        ),
        lambda a: a.role(
            "digits-sagemaker-endpoint",
            _generated("sagemaker_endpoint_policy"),
            trusts=trust({"Service": "sagemaker.amazonaws.com"}),
        ),
    ),
    (
        "IAM064",
        "digits-sagemaker-batch",
        # Writing the training code is what a compromised batch container must not be able to do.
        lambda a: a.role(
            "digits-sagemaker-batch",
            _generated("sagemaker_batch_policy"),
            doc(allow("s3:PutObject", "arn:aws:s3:::mlops-local/digits/code/*")),
            trusts=trust({"Service": "sagemaker.amazonaws.com"}),
        ),
        lambda a: a.role(
            "digits-sagemaker-batch",
            _generated("sagemaker_batch_policy"),
            trusts=trust({"Service": "sagemaker.amazonaws.com"}),
        ),
    ),
    (
        "IAM062",
        "digits-ec2-train",
        lambda a: a.role(
            "digits-ec2-train",
            doc(allow("s3:ListBucket", "arn:aws:s3:::mlops-local")),
            trusts=trust({"Service": "ec2.amazonaws.com"}),
        ),
        # Narrower than the generated policy (the EC2 helper's read + per-job write policies) is fine.
        lambda a: a.role(
            "digits-ec2-train",
            doc(
                allow(
                    "s3:GetObject", ["arn:aws:s3:::mlops-local/digits/code/*", "arn:aws:s3:::mlops-local/digits/data/*"]
                ),
                allow(
                    "s3:ListBucket",
                    "arn:aws:s3:::mlops-local",
                    Condition={"StringLike": {"s3:prefix": ["digits/data/*"]}},
                ),
            ),
            doc(allow(["s3:PutObject", "s3:AbortMultipartUpload"], "arn:aws:s3:::mlops-local/digits/models/job-1/*")),
            trusts=trust({"Service": "ec2.amazonaws.com"}),
        ),
    ),
]


def _generated(name: str) -> dict:
    from mlops_cli.services.iam import policies as iam_policies

    return getattr(iam_policies, name)(project_config(), ACCOUNT, "aws")


@pytest.mark.parametrize("rule_id,name,positive,negative", CASES, ids=[case[0] for case in CASES])
def test_rule_positive_and_negative(audit, rule_id, name, positive, negative):
    good, bad = Account(), Account()
    positive(bad)
    negative(good)
    code, report, stderr = audit(bad, "--fail-on", "never")
    assert code == 0, stderr
    hits = findings(report, rule_id, name)
    assert hits, f"{rule_id} not reported: {[f['message'] for f in report['findings']]}"
    assert all(hit["severity"] in ("critical", "high", "medium", "low") and hit["why"] and hit["fix"] for hit in hits)
    code, report, stderr = audit(good, "--fail-on", "never")
    assert code == 0, stderr
    assert not findings(report, rule_id, name), [f["message"] for f in findings(report, rule_id)]


def test_every_rule_has_a_case():
    from mlops_cli.services.audit import RULES

    assert sorted({case[0] for case in CASES}) == sorted(RULES)


def test_conditions_and_resource_patterns_lower_severity_and_expired_ones_drop(audit):
    a = Account()
    a.user("plain", doc(allow("iam:CreatePolicyVersion")))
    a.user(
        "mfa-only", doc(allow("iam:CreatePolicyVersion", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))
    )
    a.user(
        "expired",
        doc(allow("iam:CreatePolicyVersion", Condition={"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})),
    )
    a.user(
        "started",
        doc(
            allow("iam:CreatePolicyVersion", Condition={"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})
        ),
    )
    a.managed("team-x", doc(allow("s3:GetObject", "arn:aws:s3:::x/*")))
    a.user("narrowed", doc(allow("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/team-*")))
    a.user("aws-owned", doc(allow("iam:CreatePolicyVersion", "arn:aws:iam::aws:policy/*")))
    _, report, _ = audit(a, "--fail-on", "never")
    severity = {f["principal"]["name"]: f["severity"] for f in findings(report, "IAM020")}
    assert severity == {"plain": "critical", "started": "critical", "mfa-only": "medium", "narrowed": "high"}


def test_self_service_and_own_policy(audit):
    a = Account()
    # Managing your own keys is self-service, not escalation.
    a.user(
        "self",
        doc(allow(["iam:CreateAccessKey", "iam:UpdateLoginProfile"], f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")),
    )
    # Rewriting the very policy you hold is escalation even though the resource is narrowed.
    a.user(
        "own",
        attached=[
            a.managed("own-rules", doc(allow("iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/own-*")))
        ],
    )
    _, report, _ = audit(a, "--fail-on", "never")
    assert not findings(report, "IAM020", "self")
    assert [f["severity"] for f in findings(report, "IAM020", "own")] == ["critical"]


def test_escalation_needs_the_combination_of_policies(audit):
    a = Account()
    a.user("split", doc(allow("iam:PassRole")), doc(allow("ec2:RunInstances")))
    a.user("half", doc(allow("ec2:RunInstances")))
    a.group("launchers", doc(allow("iam:PassRole")))
    a.user("member", doc(allow("ec2:RunInstances")), groups=["launchers"])
    _, report, _ = audit(a, "--fail-on", "never")
    methods = {
        f["principal"]["name"]: [m["method"] for m in f["details"]["methods"]] for f in findings(report, "IAM021")
    }
    assert methods == {"split": ["PassRoleToEC2"], "member": ["PassRoleToEC2"]}


def test_permissions_boundary_caps_escalation(audit):
    a = Account()
    boundary = a.managed("boundary", doc(allow("s3:*")))
    a.user("bounded", doc(allow("iam:AttachUserPolicy")))
    a.data["UserDetailList"][-1]["PermissionsBoundary"] = {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": boundary["PolicyArn"],
    }
    a.user("unbounded", doc(allow("iam:AttachUserPolicy")))
    _, report, _ = audit(a, "--fail-on", "never")
    assert [f["principal"]["name"] for f in findings(report, "IAM020")] == ["unbounded"]


def test_project_finding_prints_the_replacement_policy(mlops, account, tmp_path):
    from mlops_cli.services.iam.policies import lambda_invoke_policy

    account.role(
        "digits-lambda-invoke",
        doc(allow(["sagemaker:*", "iam:PassRole"])),
        attached=[aws_policy("AmazonSageMakerFullAccess")],
    )
    result = mlops("audit-iam", "--input", str(account.write(tmp_path / "a.json")), "--fail-on", "never")
    assert result.exit_code == 0, result.stderr
    assert "Least-privilege policy to replace the policies of role digits-lambda-invoke (IAM060)" in result.stdout
    replacement = lambda_invoke_policy(project_config(), ACCOUNT, "aws")
    assert '"sagemaker:InvokeEndpoint"' in result.stdout
    assert replacement["Statement"][0]["Resource"] in result.stdout
    assert (
        "arn:aws:sagemaker:us-east-1:123456789012:endpoint/digits-endpoint" == replacement["Statement"][0]["Resource"]
    )


def test_generated_project_roles_come_out_clean(audit):
    """The policies the deploy/train helpers create are exactly what the audit holds them to: no finding at all."""
    from mlops_cli.services.iam import policies as iam_policies

    config = project_config()
    account = Account()
    for role in iam_policies.project_roles(config):
        account.role(
            role.name, role.policy(config, ACCOUNT, "aws"), trusts=iam_policies.assume_role_policy(role.service)
        )
    code, report, stderr = audit(account)
    assert code == 0, stderr
    assert report["findings"] == []


def test_ec2_role_reference_is_what_train_ec2_grants(audit):
    """IAM062 compares the EC2 role with train-ec2's own documents: its standing read policy and a job policy pass,
    while project-wide object access (delete, overwrite data, read other jobs' models) is flagged action by action."""
    from mlops_cli.services.ec2 import job as ec2_job
    from mlops_cli.services.iam import policies as iam_policies

    config = project_config()
    job = ec2_job.new_job(config, "digits-job-1", "s3://mlops-local/digits/code/x.tar.gz")
    as_created = Account()
    as_created.role(
        "digits-ec2-train",
        iam_policies.ec2_read_policy(config),
        iam_policies.ec2_job_policy(job.job_uri),
        trusts=trust({"Service": "ec2.amazonaws.com"}),
    )
    _, report, _ = audit(as_created, "--fail-on", "never")
    assert not findings(report, "IAM062")

    project_wide = Account()
    project_wide.role(
        "digits-ec2-train",
        doc(allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "arn:aws:s3:::mlops-local/digits/*")),
        trusts=trust({"Service": "ec2.amazonaws.com"}),
    )
    _, report, _ = audit(project_wide, "--fail-on", "never")
    (finding,) = findings(report, "IAM062", "digits-ec2-train")
    assert sorted(finding["details"]["excess"]) == [
        "s3:DeleteObject on arn:aws:s3:::mlops-local/digits/*",
        "s3:GetObject on arn:aws:s3:::mlops-local/digits/*",
        "s3:PutObject on arn:aws:s3:::mlops-local/digits/*",
    ]
    assert finding["details"]["replacement_policy"] == iam_policies.ec2_train_policy(config, ACCOUNT)
