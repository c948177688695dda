"""A least-privilege local IAM user attacking the evaluator: what AWS refuses, the local AWS refuses too.

Each test is an escalation that worked before the fix it guards: a role assumed against its trust policy, a
copy that reads an object the caller may not read, a Deny whose condition operator the evaluator did not know,
and a malformed condition that answered 500 with a traceback in server.log.
"""

from __future__ import annotations

import json
import uuid

from tests.helpers import local_client
from tests.iam.test_enforced import ACCOUNT, allow, client, denied, user_with

SERVICE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def test_a_role_whose_trust_policy_does_not_name_the_caller_cannot_be_assumed(local_aws):
    iam = local_client(local_aws, "iam")
    name = f"admin-{uuid.uuid4().hex[:6]}"
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(SERVICE_TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps(allow("*")))
    arn, keys = user_with(local_aws, allow("sts:AssumeRole"))
    error = denied(lambda: client(local_aws, "sts", keys).assume_role(RoleArn=role_arn, RoleSessionName="esc"))
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert f"User: {arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}" in str(error)


def test_a_role_that_trusts_the_account_is_assumed_by_a_user_allowed_to(local_aws):
    iam = local_client(local_aws, "iam")
    name = f"ok-{uuid.uuid4().hex[:6]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    _, keys = user_with(local_aws, allow("sts:AssumeRole", role_arn))
    client(local_aws, "sts", keys).assume_role(RoleArn=role_arn, RoleSessionName="fine")


def test_copy_object_needs_get_object_on_its_source(local_aws):
    s3 = local_client(local_aws, "s3")
    mine, secret = f"mine-{uuid.uuid4().hex[:6]}", f"secret-{uuid.uuid4().hex[:6]}"
    for bucket in (mine, secret):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=secret, Key="creds.txt", Body=b"TOPSECRET")
    arn, keys = user_with(local_aws, allow(["s3:GetObject", "s3:PutObject"], f"arn:aws:s3:::{mine}/*"))
    theirs = client(local_aws, "s3", keys)
    error = denied(lambda: theirs.copy_object(Bucket=mine, Key="x", CopySource=f"{secret}/creds.txt"))
    assert f"s3:GetObject on resource: arn:aws:s3:::{secret}/creds.txt" in str(error)
    upload = theirs.create_multipart_upload(Bucket=mine, Key="y")["UploadId"]
    error = denied(
        lambda: theirs.upload_part_copy(
            Bucket=mine, Key="y", UploadId=upload, PartNumber=1, CopySource=f"{secret}/creds.txt"
        )
    )
    assert f"s3:GetObject on resource: arn:aws:s3:::{secret}/creds.txt" in str(error)
    s3.put_object(Bucket=mine, Key="src", Body=b"mine")
    theirs.copy_object(Bucket=mine, Key="copy", CopySource=f"{mine}/src")  # within its own prefix: allowed
    assert theirs.get_object(Bucket=mine, Key="copy")["Body"].read() == b"mine"


def test_a_deny_whose_condition_operator_is_not_modelled_still_denies(local_aws):
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}},
            },
        ],
    }
    _, keys = user_with(local_aws, deny)
    error = denied(lambda: client(local_aws, "s3", keys).list_buckets())
    assert "with an explicit deny" in str(error)


def test_a_null_condition_without_a_value_is_a_refusal_not_a_500(local_aws):
    policy = allow("s3:ListAllMyBuckets", Condition={"Null": {"aws:TokenIssueTime": []}})
    _, keys = user_with(local_aws, policy)
    error = denied(lambda: client(local_aws, "s3", keys).list_buckets())
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
