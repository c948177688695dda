"""Policy evaluation helpers: IAM wildcard matching, the tabled actions a pattern reaches, conditions decided
today, policy variables and the access-level heuristic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops_cli.services.audit.actions import PERMISSIONS, READ, TAGGING, WRITE, access_levels
from mlops_cli.services.audit.policy import (
    glob_match,
    is_any_resource,
    parse_document,
    parse_statements,
    simplify_condition,
    substitute_variables,
    tabled_actions,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "pattern,value,ignore_case,expected",
    [
        ("iam:Attach*", "iam:attachuserpolicy", True, True),
        ("iam:Attach*", "iam:detachuserpolicy", True, False),
        ("s3:Get?bject", "s3:GetObject", False, True),
        ("*Policy", "iam:PutRolePolicy", False, True),
        ("arn:aws:iam::*:role/app-*", "arn:aws:iam::123:role/app-1", False, True),
        ("arn:aws:iam::*:role/app-*", "arn:aws:iam::123:role/App-1", False, False),  # ARNs are case-sensitive
        ("a*b*c", "axxbyyc", False, True),
        ("a*b*c", "axxbyy", False, False),
    ],
)
def test_glob_match(pattern, value, ignore_case, expected):
    assert glob_match(pattern, value, ignore_case) is expected


def test_tabled_actions_resolve_wildcards():
    assert tabled_actions("iam:put*policy") == {"iam:putuserpolicy", "iam:putgrouppolicy", "iam:putrolepolicy"}
    assert "iam:passrole" in tabled_actions("*") and "iam:passrole" in tabled_actions("i*:pass*")
    assert tabled_actions("s3:putobject") == frozenset()


def test_not_action_statement_covers_everything_else():
    [statement] = parse_statements(
        {"Statement": {"Effect": "Allow", "NotAction": ["iam:Create*", "iam:Attach*"], "Resource": "*"}}, "p", NOW
    )
    tabled = statement.tabled()
    assert "iam:putuserpolicy" in tabled and "iam:createaccesskey" not in tabled
    assert statement.matches_action("s3:GetObject") and not statement.matches_action("iam:AttachRolePolicy")


@pytest.mark.parametrize(
    "condition,dead,remaining",
    [
        ({"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, True, None),
        ({"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00Z"}}, False, None),
        (
            {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            False,
            {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
        ),
        ({"Bool": {"aws:SecureTransport": "true"}}, False, None),
        (
            {"Bool": {"aws:SecureTransport": "true", "aws:MultiFactorAuthPresent": "true"}},
            False,
            {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        ),
        ({"StringEquals": {"aws:PrincipalOrgID": "o-123"}}, False, {"StringEquals": {"aws:PrincipalOrgID": "o-123"}}),
    ],
)
def test_conditions_decided_today(condition, dead, remaining):
    assert simplify_condition(condition, NOW) == (dead, remaining)


def test_dead_statements_are_dropped():
    statements = parse_statements(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"DateLessThanEquals": {"aws:CurrentTime": 1577836800}},
                },
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            ]
        },
        "p",
        NOW,
    )
    assert [s.index for s in statements] == [1]


def test_policy_variables():
    assert substitute_variables("arn:aws:iam::1:user/${aws:username}", "alice") == "arn:aws:iam::1:user/alice"
    assert substitute_variables("arn:aws:iam::1:user/${aws:username}", None) is None
    assert substitute_variables("arn:aws:s3:::b/${aws:PrincipalTag/team}/*", None) == "arn:aws:s3:::b/*/*"


def test_any_resource():
    assert is_any_resource("*") and is_any_resource("arn:aws:s3:::*", "s3:getobject")
    assert is_any_resource("arn:aws:iam::*:role/*", "iam:passrole")
    assert not is_any_resource("arn:aws:iam::*:role/app-*", "iam:passrole")
    assert not is_any_resource("arn:aws:s3:::*", "iam:passrole")


def test_documents_may_be_url_encoded_strings():
    encoded = "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%7D%5D%7D"
    assert parse_document(encoded, "p")["Statement"][0]["Action"] == "*"


@pytest.mark.parametrize(
    "pattern,levels",
    [
        ("s3:GetObject", {READ}),
        ("s3:getobject", {READ}),
        ("ec2:DescribeTags", {READ}),
        ("s3:PutObject", {WRITE}),
        ("ec2:CreateTags", {TAGGING}),
        ("s3:PutObjectTagging", {TAGGING}),
        ("s3:PutBucketPolicy", {WRITE, PERMISSIONS}),
        ("kms:CreateGrant", {WRITE, PERMISSIONS}),
        ("iam:CreateUser", {WRITE, PERMISSIONS}),
        ("s3:Put*", {WRITE, PERMISSIONS}),
        ("ec2:Describe*", {READ}),
        ("s3:*", {READ, WRITE, TAGGING, PERMISSIONS}),
        ("s3:P*", {READ, WRITE, TAGGING, PERMISSIONS}),
        ("dynamodb:BatchGetItem", {READ}),
        ("dynamodb:BatchWriteItem", {WRITE}),
    ],
)
def test_access_level_heuristic(pattern, levels):
    assert access_levels(pattern) == levels
