"""The project's own IAM account dump for the audit tests: one principal per case the auditor must get right.

Built from the rule and escalation tables themselves (every escalation method gets a principal holding exactly
its actions), so a method added to `actions.py` is covered without editing this file. Covers: administrators,
wildcards, every privilege-escalation path, NotAction, allow+deny that cancel, narrowing that leaves nothing,
cross-account, public and web-identity trust, admin service roles, stale roles and keys.

Run as a script to write the dump for other tools (e.g. `bench/bench_audit.py --fixtures`):

    python -m tests.audit.sample_account OUT.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlops_cli.services.audit.actions import ESCALATION_METHODS, KNOWN_AWS_POLICY_DOCUMENTS

from .builders import ACCOUNT, Account, allow, days_ago, deny, doc, trust

OTHER_ACCOUNT = "999999999999"

ESCALATION_RULES = {"IAM020", "IAM021", "IAM022"}
ADMIN_RULES = {"IAM001", "IAM002", "IAM003", "IAM010"}


def escalation_user(method_name: str) -> str:
    return f"privesc-{method_name}"


class Sample:
    """The account, and what the auditor must say about each principal in it."""

    def __init__(self) -> None:
        self.account = Account()
        self.expected: dict[str, set[str]] = {}  # principal -> rule ids it must raise (at least these)
        self.quiet: dict[str, set[str]] = {}  # principal -> rule ids it must not raise

    def expect(self, name: str, *rules: str) -> None:
        self.expected.setdefault(name, set()).update(rules)

    def stays_quiet(self, name: str, *rules: str) -> None:
        self.quiet.setdefault(name, set()).update(rules)


def build() -> Sample:
    sample = Sample()
    for add in (_admins, _wildcards, _escalations, _cancelled, _trust, _staleness):
        add(sample)
    return sample


def _aws(account: Account, name: str) -> dict[str, str]:
    return account.managed(name, KNOWN_AWS_POLICY_DOCUMENTS[name], aws=True)


def _admins(sample: Sample) -> None:
    account = sample.account
    account.user("admin-attached", attached=[_aws(account, "AdministratorAccess")])
    sample.expect("admin-attached", "IAM001")
    account.user("poweruser", attached=[_aws(account, "PowerUserAccess")])
    sample.expect("poweruser", "IAM002")
    account.group("iam-admins", attached=[_aws(account, "IAMFullAccess")])
    account.user("iam-admin", groups=["iam-admins"])
    sample.expect("iam-admins", "IAM003")
    account.role("star-inline", doc(allow("*")))
    sample.expect("star-inline", "IAM010")


def _wildcards(sample: Sample) -> None:
    account = sample.account
    account.group("data", attached=[account.managed("AmazonS3FullAccess", doc(allow("s3:*")), aws=True)])
    sample.expect("data", "IAM004")
    account.role("s3-everything", doc(allow("s3:*", "arn:aws:s3:::project-bucket/*")))
    sample.expect("s3-everything", "IAM011")
    account.user(
        "not-action", doc({"Effect": "Allow", "NotAction": ["iam:CreatePolicyVersion", "s3:*"], "Resource": "*"})
    )
    sample.expect("not-action", "IAM014", "IAM020")
    account.user(
        "not-resource",
        doc(
            {
                "Effect": "Allow",
                "Action": "dynamodb:PutItem",
                "NotResource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/audit",
            }
        ),
    )
    sample.expect("not-resource", "IAM015")
    account.role("bucket-policies", doc(allow("s3:PutBucketPolicy")))
    sample.expect("bucket-policies", "IAM012")
    account.role("table-writer", doc(allow("dynamodb:PutItem")))
    sample.expect("table-writer", "IAM013")
    account.role("reader-everywhere", doc(allow("s3:GetObject")))
    sample.expect("reader-everywhere", "IAM030")
    account.role("secrets-reader", doc(allow("ec2:GetPasswordData")))
    sample.expect("secrets-reader", "IAM031")


def _escalations(sample: Sample) -> None:
    account = sample.account
    for method in ESCALATION_METHODS:
        name = escalation_user(method.name)
        account.user(name, doc(allow(list(method.actions))))
        sample.expect(name, method.rule_id)
    # One path split over two policies (PassRole in one, CreateFunction + Invoke in the other).
    account.user(
        "split-passrole", doc(allow("iam:PassRole")), doc(allow(["lambda:CreateFunction", "lambda:InvokeFunction"]))
    )
    sample.expect("split-passrole", "IAM021")
    # Narrowed by a condition: still found, at a lower severity.
    account.user(
        "conditional-attach",
        doc(allow("iam:AttachUserPolicy", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
    )
    sample.expect("conditional-attach", "IAM020")


def _cancelled(sample: Sample) -> None:
    account = sample.account
    """What must stay quiet: grants a Deny cancels, or narrowing that leaves nothing to escalate with."""
    account.user("allow-then-deny", doc(allow("iam:AttachUserPolicy"), deny("iam:AttachUserPolicy")))
    account.user("deny-everything", doc(allow("iam:*"), deny("*")))
    account.user("deny-iam", doc(allow(["iam:PutUserPolicy", "iam:CreateAccessKey"]), deny("iam:*")))
    account.user(
        "own-keys-only",
        doc(allow(["iam:CreateAccessKey", "iam:CreateLoginProfile"], f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")),
    )
    account.user("aws-owned-policy", doc(allow("iam:CreatePolicyVersion", "arn:aws:iam::aws:policy/*")))
    account.user("nonexistent-user", doc(allow("iam:PutUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/nobody")))
    for name in (
        "allow-then-deny",
        "deny-everything",
        "deny-iam",
        "own-keys-only",
        "aws-owned-policy",
        "nonexistent-user",
    ):
        sample.stays_quiet(name, *ESCALATION_RULES, *ADMIN_RULES)


def _trust(sample: Sample) -> None:
    account = sample.account
    account.role("public-trust", trusts=trust({"AWS": "*"}))
    sample.expect("public-trust", "IAM040")
    account.role("cross-account", trusts=trust({"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}))
    sample.expect("cross-account", "IAM041")
    account.role(
        "vendor-with-external-id",
        trusts=trust(
            {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"}, Condition={"StringEquals": {"sts:ExternalId": "x-123"}}
        ),
    )
    sample.stays_quiet("vendor-with-external-id", "IAM040", "IAM041")
    account.role(
        "github-any-repo",
        trusts=trust(
            {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
            "sts:AssumeRoleWithWebIdentity",
            Condition={"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}},
        ),
    )
    sample.expect("github-any-repo", "IAM043")
    account.role(
        "admin-lambda",
        trusts=trust({"Service": "lambda.amazonaws.com"}),
        attached=[{"PolicyName": "AdministratorAccess", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}],
    )
    sample.expect("admin-lambda", "IAM042", "IAM001")


def _staleness(sample: Sample) -> None:
    account = sample.account
    account.role("stale-role", created=days_ago(400), last_used=days_ago(200))
    sample.expect("stale-role", "IAM050")
    account.role("never-used-role", created=days_ago(200), last_used=None)
    sample.expect("never-used-role", "IAM050")
    account.role("busy-role", created=days_ago(400), last_used=days_ago(1))
    sample.stays_quiet("busy-role", "IAM050")
    account.user(
        "old-key",
        keys=[
            {"AccessKeyId": "AKIAOLDKEY", "Status": "Active", "CreateDate": days_ago(200), "LastUsedDate": days_ago(1)}
        ],
    )
    sample.expect("old-key", "IAM051")
    account.user(
        "idle-key",
        keys=[
            {
                "AccessKeyId": "AKIAIDLEKEY",
                "Status": "Active",
                "CreateDate": days_ago(30),
                "LastUsedDate": days_ago(120),
            }
        ],
    )
    sample.expect("idle-key", "IAM052")
    account.user(
        "two-keys",
        keys=[
            {"AccessKeyId": f"AKIATWO{i}", "Status": "Active", "CreateDate": days_ago(5), "LastUsedDate": days_ago(1)}
            for i in range(2)
        ],
    )
    sample.expect("two-keys", "IAM053")
    account.user("console-no-mfa", keys=[], console=True, mfa=0)
    sample.expect("console-no-mfa", "IAM054")
    account.user("console-with-mfa", keys=[], console=True, mfa=1)
    sample.stays_quiet("console-with-mfa", "IAM054")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.audit.sample_account OUT.json", file=sys.stderr)
        return 2
    build().account.write(Path(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
