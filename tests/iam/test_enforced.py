"""The local AWS evaluates IAM for requests signed with a local IAM user's or an assumed role's keys, as AWS does:
identity policies (inline, managed, AWS managed), explicit Deny, resource ARNs with wildcards, conditions, and
the actions AWS checks on the caller's behalf; the instance's own keys stay the root."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.helpers import local_client, put_alarm

ACCOUNT = "123456789012"
ROLE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
    ],
}


def user_with(url: str, *documents: dict, managed: tuple[str, ...] = ()) -> tuple[str, dict]:
    """A new local IAM user holding these inline policies and managed policy ARNs: (its ARN, boto3 keys)."""
    iam = local_client(url, "iam")
    name = f"u-{uuid.uuid4().hex[:8]}"
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    for index, document in enumerate(documents):
        iam.put_user_policy(UserName=name, PolicyName=f"p{index}", PolicyDocument=json.dumps(document))
    for policy_arn in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


def client(url: str, service: str, keys: dict):
    return boto3.client(service, region_name="us-east-1", endpoint_url=url, **keys)


def allow(action, resource="*", **extra) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}],
    }


def denied(call) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


def test_a_user_is_refused_what_no_policy_allows_with_aws_s_message(local_aws):
    arn, keys = user_with(local_aws, allow("sagemaker:ListEndpoints"))
    sagemaker = client(local_aws, "sagemaker", keys)
    sagemaker.list_endpoints()
    error = denied(lambda: sagemaker.describe_endpoint(EndpointName="Nope"))
    assert error.response["Error"]["Code"] == "AccessDeniedException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error.response["Error"]["Message"] == (
        f"User: {arn} is not authorized to perform: sagemaker:DescribeEndpoint on resource: "
        f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/nope because no identity-based policy allows the "
        "sagemaker:DescribeEndpoint action"
    )
    assert client(local_aws, "sts", keys).get_caller_identity()["Arn"] == arn  # always allowed


def test_resources_wildcards_explicit_deny_and_s3_conditions(local_aws):
    local_client(local_aws, "s3").create_bucket(Bucket="iam-test")
    arn, keys = user_with(
        local_aws,
        allow(["s3:PutObject", "s3:GetObject"], "arn:aws:s3:::iam-test/mine/*"),
        allow("s3:ListBucket", "arn:aws:s3:::iam-test", Condition={"StringLike": {"s3:prefix": ["mine/*"]}}),
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::*/mine/secret*"}],
        },
    )
    s3 = client(local_aws, "s3", keys)
    s3.put_object(Bucket="iam-test", Key="mine/a.txt", Body=b"a")
    assert s3.get_object(Bucket="iam-test", Key="mine/a.txt")["Body"].read() == b"a"
    s3.list_objects_v2(Bucket="iam-test", Prefix="mine/")
    error = denied(lambda: s3.put_object(Bucket="iam-test", Key="other/a.txt", Body=b"a"))
    assert error.response["Error"]["Code"] == "AccessDenied"
    assert "s3:PutObject on resource: arn:aws:s3:::iam-test/other/a.txt" in error.response["Error"]["Message"]
    denied(lambda: s3.list_objects_v2(Bucket="iam-test", Prefix="other/"))
    error = denied(lambda: s3.put_object(Bucket="iam-test", Key="mine/secret.txt", Body=b"a"))
    assert "with an explicit deny in an identity-based policy" in error.response["Error"]["Message"]
    # An object body too large to be read for the check (authorize.S3_BODY_READ_MAX): decided the same way.
    large = b"x" * (3 * 1024 * 1024)
    s3.put_object(Bucket="iam-test", Key="mine/large.bin", Body=large)
    assert s3.head_object(Bucket="iam-test", Key="mine/large.bin")["ContentLength"] == len(large)
    error = denied(lambda: s3.put_object(Bucket="iam-test", Key="other/large.bin", Body=large))
    assert "s3:PutObject on resource: arn:aws:s3:::iam-test/other/large.bin" in error.response["Error"]["Message"]


def test_aws_managed_policies_count_and_not_action(local_aws):
    _arn, keys = user_with(local_aws, managed=("arn:aws:iam::aws:policy/ReadOnlyAccess",))
    client(local_aws, "sagemaker", keys).list_endpoints()
    denied(lambda: client(local_aws, "sagemaker", keys).delete_endpoint(EndpointName="x"))
    _arn, keys = user_with(
        local_aws, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    )
    client(local_aws, "sagemaker", keys).list_endpoints()
    denied(lambda: client(local_aws, "iam", keys).list_roles())


def test_tag_on_create_needs_add_tags_scoped_by_tagging_action(local_aws):
    create = allow("sagemaker:CreateModel", "arn:aws:sagemaker:*:*:model/m-*")
    passes = allow("iam:PassRole", "*", Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})
    role = local_client(local_aws, "iam").create_role(
        RoleName=f"r-{uuid.uuid4().hex[:6]}",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]

    def create_model(keys, name):
        client(local_aws, "sagemaker", keys).create_model(
            ModelName=name,
            ExecutionRoleArn=role,
            Tags=[{"Key": "project", "Value": "x"}],
            PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
        )

    _arn, keys = user_with(local_aws, create, passes)
    error = denied(lambda: create_model(keys, "m-1"))
    assert "perform: sagemaker:AddTags on resource: arn:aws:sagemaker:us-east-1:123456789012:model/m-1" in str(error)
    tagging = allow("sagemaker:AddTags", "*", Condition={"StringEquals": {"sagemaker:TaggingAction": "CreateModel"}})
    _arn, keys = user_with(local_aws, create, passes, tagging)
    create_model(keys, "m-2")
    _arn, keys = user_with(local_aws, create, tagging)
    error = denied(lambda: create_model(keys, "m-3"))
    assert f"perform: iam:PassRole on resource: {role}" in str(error)


def test_an_alarm_tagged_on_creation_needs_tag_resource_on_it(local_aws):
    """CloudWatch API Reference, PutMetricAlarm, Tags: creating an alarm with tags needs cloudwatch:TagResource."""
    alarms = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a-*"
    put = allow("cloudwatch:PutMetricAlarm", alarms)

    tagged = [{"Key": "mlops:project", "Value": "x"}]
    _arn, keys = user_with(local_aws, put)
    put_alarm(client(local_aws, "cloudwatch", keys), "a-untagged")
    error = denied(lambda: put_alarm(client(local_aws, "cloudwatch", keys), "a-tagged", tagged))
    assert "perform: cloudwatch:TagResource on resource: arn:aws:cloudwatch:us-east-1:123456789012:alarm:a-tagged" in (
        str(error)
    )
    _arn, keys = user_with(local_aws, put, allow("cloudwatch:TagResource", alarms))
    put_alarm(client(local_aws, "cloudwatch", keys), "a-tagged", tagged)


def test_an_assumed_role_acts_with_the_role_s_policies(local_aws):
    iam = local_client(local_aws, "iam")
    name = f"r-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(ROLE_TRUST))
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(allow("sagemaker:ListModels")))
    session = local_client(local_aws, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{name}", RoleSessionName="s1"
    )["Credentials"]
    keys = {
        "aws_access_key_id": session["AccessKeyId"],
        "aws_secret_access_key": session["SecretAccessKey"],
        "aws_session_token": session["SessionToken"],
    }
    client(local_aws, "sagemaker", keys).list_models()
    error = denied(lambda: client(local_aws, "sagemaker", keys).list_endpoints())
    assert f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{name}/s1 is not authorized" in str(error)
    without_token = {k: v for k, v in keys.items() if k != "aws_session_token"}
    assert denied(lambda: client(local_aws, "sagemaker", without_token).list_models()).response["Error"]["Code"] == (
        "UnrecognizedClientException"
    )


def test_the_instance_s_own_keys_stay_the_root(local_aws):
    local_client(local_aws, "sagemaker").list_endpoints()
    local_client(local_aws, "iam").list_roles()
