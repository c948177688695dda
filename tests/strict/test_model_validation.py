"""The local AWS refuses requests that break botocore's service model, as AWS does, in each protocol's error shape:
JSON (SageMaker, Application Auto Scaling, CloudWatch Logs), REST-JSON (Lambda), query (IAM), EC2 and REST-XML
(S3). The clients here skip boto3's own parameter checks, so what refuses is the server."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/strict-model-tests"


def refused(call, **params) -> dict:
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400, response
    return response["Error"]


def training_request(**changes) -> dict:
    request = {
        "TrainingJobName": "strict-model",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {
            "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/x:1",
            "TrainingInputMode": "File",
        },
        "OutputDataConfig": {"S3OutputPath": "s3://mlops-local/strict"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }
    request.update(changes)
    return request


def test_json_protocol_enum_pattern_range_in_one_validation_exception(raw_client):
    sagemaker = raw_client("sagemaker")
    error = refused(
        sagemaker.create_training_job,
        **training_request(
            TrainingJobName="bad_name",
            StoppingCondition={"MaxRuntimeInSeconds": 0},
            ResourceConfig={"InstanceType": "ml.m5.huge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        ),
    )
    assert error["Code"] == "ValidationException"
    message = error["Message"]
    assert message.startswith("3 validation errors detected: ")
    assert (
        "Value 'bad_name' at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern" in message
    )
    assert (
        "Value 'ml.m5.huge' at 'resourceConfig.instanceType' failed to satisfy constraint: Member must "
        "satisfy enum value set: [" in message
    )
    assert (
        "Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint: Member must have "
        "value greater than or equal to 1" in message
    )


def test_missing_members_lengths_and_types(raw_client):
    sagemaker = raw_client("sagemaker")
    request = training_request()
    del request["RoleArn"]
    error = refused(sagemaker.create_training_job, **request)
    assert error["Code"] == "ValidationException"
    assert "Value null at 'roleArn' failed to satisfy constraint: Member must not be null" in error["Message"]
    # A name over the model's maximum length (boto3 itself only checks minimums).
    error = refused(raw_client("logs").create_log_group, logGroupName="g" * 513)
    assert "Member must have length less than or equal to 512" in error["Message"]
    # A body that is not the operation's shape at all.
    error = refused(
        sagemaker.create_training_job,
        **training_request(
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": "many", "VolumeSizeInGB": 30}
        ),
    )
    assert error["Code"] == "SerializationException"


def test_application_autoscaling_enum(raw_client):
    error = refused(raw_client("application-autoscaling").describe_scalable_targets, ServiceNamespace="sagemakr")
    assert error["Code"] == "ValidationException"
    assert "at 'serviceNamespace' failed to satisfy constraint: Member must satisfy enum value set" in error["Message"]


def test_query_protocol_iam(raw_client):
    error = refused(raw_client("iam").create_role, RoleName="has/slash", AssumeRolePolicyDocument="{}")
    assert error["Code"] == "ValidationError"
    assert "Value 'has/slash' at 'roleName' failed to satisfy constraint" in error["Message"]


def test_ec2_protocol(raw_client):
    ec2 = raw_client("ec2")
    error = refused(ec2.run_instances, ImageId="ami-12345678", InstanceType="m5.huge", MinCount=1, MaxCount=1)
    assert error["Code"] == "InvalidParameterValue"
    assert "at 'instanceType' failed to satisfy constraint: Member must satisfy enum value set" in error["Message"]
    error = refused(ec2.run_instances, ImageId="ami-12345678", InstanceType="m5.large", MaxCount=1)
    assert error["Code"] == "MissingParameter"


def test_rest_json_lambda_uri_and_body_members(raw_client):
    lam = raw_client("lambda")
    error = refused(lam.get_function, FunctionName="not a name!")
    assert error["Code"] == "ValidationException"
    assert "Value 'not a name!' at 'functionName' failed to satisfy constraint" in error["Message"]
    error = refused(lam.put_function_concurrency, FunctionName="strict-fn", ReservedConcurrentExecutions=-1)
    assert (
        "at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than "
        "or equal to 0" in error["Message"]
    )


def test_rest_xml_s3(raw_client):
    error = refused(raw_client("s3").create_bucket, Bucket="ab")
    assert error["Code"] == "InvalidBucketName"


def test_valid_requests_pass(boto_client):
    assert boto_client("sts").get_caller_identity()["Account"] == "123456789012"
    assert "logGroups" in boto_client("logs").describe_log_groups(logGroupNamePrefix="/aws/sagemaker")
