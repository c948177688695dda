"""A target-tracking policy on a SageMaker variant gets Application Auto Scaling's two CloudWatch alarms (3 periods
above the target, 15 below 90 % of it), replaced when the policy changes and deleted with it."""

from __future__ import annotations

import pytest

ENDPOINT = "digits-alarms"
RESOURCE = f"endpoint/{ENDPOINT}/variant/AllTraffic"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@pytest.fixture
def endpoint_record(boto_client):
    """An endpoint record to scale (its model never loads: only the scaling records matter here)."""
    import json

    sm, iam = boto_client("sagemaker"), boto_client("iam")
    role = iam.create_role(
        RoleName="digits-alarms-role",
        AssumeRolePolicyDocument=json.dumps(
            {  # SageMaker assumes it
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    sm.create_model(
        ModelName="digits-alarms-model",
        ExecutionRoleArn=role,
        PrimaryContainer={"Image": "other", "ModelDataUrl": "s3://mlops-local/none/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName="digits-alarms-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "digits-alarms-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="digits-alarms-config")
    yield ENDPOINT
    sm.delete_endpoint(EndpointName=ENDPOINT)
    sm.delete_endpoint_config(EndpointConfigName="digits-alarms-config")
    sm.delete_model(ModelName="digits-alarms-model")
    iam.delete_role(RoleName="digits-alarms-role")


def _policy(aas, target: float) -> None:
    aas.put_scaling_policy(
        PolicyName="digits-alarms-policy",
        ServiceNamespace="sagemaker",
        ResourceId=RESOURCE,
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": target,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        },
    )


def _alarms(cloudwatch) -> list[dict]:
    return sorted(
        cloudwatch.describe_alarms(AlarmNamePrefix=f"TargetTracking-{RESOURCE}-")["MetricAlarms"],
        key=lambda alarm: alarm["AlarmName"],
    )


def test_target_tracking_policy_has_its_alarms(endpoint_record, boto_client):
    aas, cloudwatch = boto_client("application-autoscaling"), boto_client("cloudwatch")
    aas.register_scalable_target(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE, ScalableDimension=DIMENSION, MinCapacity=1, MaxCapacity=2
    )
    _policy(aas, 5.0)
    (policy,) = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=RESOURCE)["ScalingPolicies"]
    high, low = _alarms(cloudwatch)
    assert sorted(a["AlarmName"] for a in policy["Alarms"]) == [high["AlarmName"], low["AlarmName"]]
    assert "-AlarmHigh-" in high["AlarmName"] and "-AlarmLow-" in low["AlarmName"]
    assert (high["ComparisonOperator"], high["Threshold"], high["EvaluationPeriods"]) == ("GreaterThanThreshold", 5, 3)
    assert (low["ComparisonOperator"], low["Threshold"], low["EvaluationPeriods"]) == ("LessThanThreshold", 4.5, 15)
    assert (high["Namespace"], high["MetricName"], high["Period"]) == ("AWS/SageMaker", "InvocationsPerInstance", 60)
    assert {d["Name"]: d["Value"] for d in high["Dimensions"]} == {
        "EndpointName": ENDPOINT,
        "VariantName": "AllTraffic",
    }
    assert {high["StateValue"], low["StateValue"]} == {"INSUFFICIENT_DATA"}

    _policy(aas, 10.0)  # a changed target replaces the alarms
    assert [a["Threshold"] for a in _alarms(cloudwatch)] == [10, 9]

    aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=RESOURCE, ScalableDimension=DIMENSION)
    assert _alarms(cloudwatch) == []
