"""The AWS behaviours the CLI depends on, which moto does not have: tags on an existing scalable target refused
(TagResource instead), roles that must exist and trust the service, new roles not assumable at once (IAM
propagation; the CLI retries), and DescribeScalingActivities."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from botocore.exceptions import ClientError

from .conftest import make_client

ACCOUNT = "123456789012"
NAMESPACE = "sagemaker"


def trust(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def error_of(call, **params) -> dict:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]


# --- Application Auto Scaling -----------------------------------------------------------------------------------


def test_tags_on_an_existing_scalable_target_are_refused(boto_client):
    """The rule holds for every namespace; a DynamoDB table's target needs no endpoint behind it here."""
    aas = boto_client("application-autoscaling")
    target = {
        "ServiceNamespace": "dynamodb",
        "ResourceId": "table/strict-tags",
        "ScalableDimension": "dynamodb:table:ReadCapacityUnits",
    }
    arn = aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2, Tags={"team": "a"})["ScalableTargetARN"]
    error = error_of(aas.register_scalable_target, **target, MinCapacity=1, MaxCapacity=3, Tags={"team": "a"})
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith("The scalable target that you tried to tag already exists")
    # What AWS takes instead: the update without tags, and TagResource.
    aas.register_scalable_target(**target, MinCapacity=1, MaxCapacity=3)
    aas.tag_resource(ResourceARN=arn, Tags={"stage": "prod"})
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"team": "a", "stage": "prod"}
    aas.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"stage": "prod"}
    aas.deregister_scalable_target(**target)


def test_describe_scaling_activities_answers_in_the_api_shape(boto_client, raw_client):
    aas = boto_client("application-autoscaling")
    answer = aas.describe_scaling_activities(
        ServiceNamespace=NAMESPACE, ResourceId="endpoint/strict-none/variant/AllTraffic"
    )
    assert answer["ScalingActivities"] == []
    error = error_of(raw_client("application-autoscaling").describe_scaling_activities)
    assert "at 'serviceNamespace' failed to satisfy constraint: Member must not be null" in error["Message"]


# --- roles the services must assume -----------------------------------------------------------------------------


def test_sagemaker_refuses_a_role_that_is_missing_or_does_not_trust_it(boto_client):
    iam, sagemaker = boto_client("iam"), boto_client("sagemaker")
    iam.create_role(RoleName="strict-ec2-only", AssumeRolePolicyDocument=trust("ec2.amazonaws.com"))
    container = {"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"}
    for role in ("strict-missing", "strict-ec2-only"):
        arn = f"arn:aws:iam::{ACCOUNT}:role/{role}"
        error = error_of(
            sagemaker.create_model, ModelName=f"{role}-model", PrimaryContainer=container, ExecutionRoleArn=arn
        )
        assert error["Code"] == "ValidationException"
        assert error["Message"] == (
            f"Could not assume role {arn}. Please ensure that the role exists and allows "
            "principal 'sagemaker.amazonaws.com' to assume the role."
        )


def test_list_models_filters_sorts_and_pages_as_aws_does(boto_client):
    """moto's ListModels returns every model whatever the request asks: a caller listing its project's models by
    NameContains would see (and might act on) every other model."""
    iam, sagemaker = boto_client("iam"), boto_client("sagemaker")
    arn = iam.create_role(RoleName="strict-listing", AssumeRolePolicyDocument=trust("sagemaker.amazonaws.com"))
    container = {"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312"}
    for name in ("listing-b", "listing-a", "listing-c", "other-d"):
        sagemaker.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=arn["Role"]["Arn"])

    newest_first = sagemaker.list_models(NameContains="listing")["Models"]
    assert [m["ModelName"] for m in newest_first] == ["listing-c", "listing-a", "listing-b"]
    first = sagemaker.list_models(NameContains="listing", SortBy="Name", SortOrder="Ascending", MaxResults=2)
    assert [m["ModelName"] for m in first["Models"]] == ["listing-a", "listing-b"]
    rest = sagemaker.list_models(
        NameContains="listing", SortBy="Name", SortOrder="Ascending", NextToken=first["NextToken"]
    )
    assert [m["ModelName"] for m in rest["Models"]] == ["listing-c"] and "NextToken" not in rest
    assert (
        sagemaker.list_models(NameContains="listing", CreationTimeAfter=newest_first[0]["CreationTime"])["Models"] == []
    )


def test_lambda_refuses_a_role_that_does_not_trust_it(boto_client):
    boto_client("iam").create_role(
        RoleName="strict-sagemaker-only", AssumeRolePolicyDocument=trust("sagemaker.amazonaws.com")
    )
    error = error_of(
        boto_client("lambda").create_function,
        FunctionName="strict-untrusted",
        Runtime="python3.12",
        Role=f"arn:aws:iam::{ACCOUNT}:role/strict-sagemaker-only",
        Handler="handler.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"] == "The role defined for the function cannot be assumed by Lambda."


def test_a_configured_role_that_does_not_exist_fails_train_at_once(mlops, digits_in_s3):
    """A role the user configured is not waited for: one line naming the refusal, exit 1."""
    missing = f"arn:aws:iam::{ACCOUNT}:role/strict-nobody"
    result = mlops(
        "train", "--no-wait", "--job-name", "strict-missing-role", env={"MLOPS_TRAIN__SAGEMAKER__ROLE_ARN": missing}
    )
    assert result.exit_code == 1, result.output
    assert f"Could not assume role {missing}" in result.stderr.strip().splitlines()[-1]
    assert "retrying" not in result.stderr


# --- IAM propagation: the first train and deploy in an account ---------------------------------------------------


def _model_tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.pt")
        tar.addfile(info, io.BytesIO(b""))
    return buffer.getvalue()


def test_first_train_and_deploy_wait_for_their_new_roles(mlops, delayed_aws):
    """On a fresh account the roles train and deploy create are refused for a while (as IAM propagation does):
    both retry with backoff, say so, and go on. Before, train sent CreateTrainingJob at once and failed, and
    deploy named a role it never created."""
    s3 = make_client(delayed_aws, "s3")
    s3.create_bucket(Bucket="mlops-local")
    env = {"MLOPS_AWS__ENDPOINT_URL": delayed_aws}

    train = mlops("train", "--no-wait", "--job-name", "strict-first-train", env=env)
    assert train.exit_code == 0, train.output
    assert "not assumable yet" in train.stderr and "retrying with backoff for up to 90 s" in train.stderr
    sagemaker = make_client(delayed_aws, "sagemaker")
    job = sagemaker.describe_training_job(TrainingJobName="strict-first-train")
    assert job["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/digits-sagemaker-execution"

    s3.put_object(Bucket="mlops-local", Key="digits/models/strict/output/model.tar.gz", Body=_model_tarball())
    model = "s3://mlops-local/digits/models/strict/output/model.tar.gz"
    plan = mlops("-o", "json", "deploy", "--dry-run", "--model", model, env=env)
    steps = json.loads(plan.stdout)["steps"]
    assert [(s["operation"], s["params"].get("RoleName")) for s in steps[:2]] == [
        ("CreateRole", "digits-sagemaker-endpoint"),
        ("PutRolePolicy", "digits-sagemaker-endpoint"),
    ]

    deploy = mlops("deploy", "--no-wait", "--model", model, env=env)
    assert deploy.exit_code == 0, deploy.output
    assert "not assumable yet" in deploy.stderr and "retrying with backoff" in deploy.stderr
    models = sagemaker.list_models()["Models"]
    described = sagemaker.describe_model(ModelName=models[0]["ModelName"])
    assert described["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/digits-sagemaker-endpoint"
