"""Request plans of deploy and autoscale, from the endpoint states AWS describes: create vs blue/green update, the
scaling pitfall (deregister -> update -> re-register), autoscale values, tags, idempotency; and the waiter's
reading of DescribeEndpoint."""

from __future__ import annotations

import pytest

from mlops_cli.config import load_config
from mlops_cli.errors import OperationError
from mlops_cli.services.deploy import autoscaling
from mlops_cli.services.deploy import endpoint as deploy
from mlops_cli.services.deploy.autoscaling import ScalingSettings, ScalingState
from tests.helpers import LOCAL_CONFIG

CONFIG = load_config([LOCAL_CONFIG], env={})
SETTINGS = ScalingSettings(min=1, max=2, target=5.0, scale_in_cooldown=30, scale_out_cooldown=30)
RESOURCE = "endpoint/digits-endpoint/variant/AllTraffic"
PROJECT_TAGS = [{"Key": "mlops:project", "Value": "digits"}, {"Key": "mlops:endpoint", "Value": "digits-endpoint"}]


def target(scaling: ScalingSettings | None = None, instance_type: str = "ml.m5.large") -> deploy.DeployTarget:
    artifact = deploy.Artifact("s3://mlops-local/digits/models/job/output/model.tar.gz", "job job", "job")
    config = CONFIG.model_copy(update={"deploy": CONFIG.deploy.model_copy(update={"instance_type": instance_type})})
    return deploy.build_target(config, artifact, "image:cpu", "arn:aws:iam::123456789012:role/r", scaling)


def scaling_state(settings: ScalingSettings | None) -> ScalingState:
    """What DescribeScalableTargets / DescribeScalingPolicies answer for a variant with `settings` in place."""
    state = ScalingState("digits-endpoint", "AllTraffic")
    if settings:
        state.target = {"ResourceId": RESOURCE, "MinCapacity": settings.min, "MaxCapacity": settings.max}
        state.policies = [
            {
                "PolicyName": autoscaling.policy_name("digits-endpoint"),
                "ResourceId": RESOURCE,
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": settings.target,
                    "ScaleInCooldown": settings.scale_in_cooldown,
                    "ScaleOutCooldown": settings.scale_out_cooldown,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": autoscaling.METRIC},
                },
            }
        ]
    return state


def live(
    settings: ScalingSettings | None = None, status: str = "InService", instance_type: str = "ml.m5.large"
) -> deploy.LiveEndpoint:
    return deploy.LiveEndpoint(
        {
            "EndpointName": "digits-endpoint",
            "EndpointStatus": status,
            "EndpointConfigName": "digits-config-old",
            "FailureReason": "model_fn failed" if status == "Failed" else None,
        },
        {"ProductionVariants": [{"VariantName": "AllTraffic", "InstanceType": instance_type, "ModelName": "m"}]},
        scaling_state(settings),
    )


def operations(steps) -> list[str]:
    return [step.operation for step in steps]


def test_create_plan_models_configures_creates_then_scales():
    plan = deploy.plan_deploy(target(SETTINGS), None)
    assert plan.action == "create"
    assert operations(plan.rollout) == ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"]
    assert operations(plan.after) == ["RegisterScalableTarget", "PutScalingPolicy"]
    model, config, endpoint = (step.params for step in plan.rollout)
    assert model["PrimaryContainer"] == {
        "Image": "image:cpu",
        "ModelDataUrl": "s3://mlops-local/digits/models/job/output/model.tar.gz",
        "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            "SAGEMAKER_REGION": "us-east-1",
        },
    }
    assert model["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/r"
    assert config["ProductionVariants"] == [
        {
            "VariantName": "AllTraffic",
            "ModelName": model["ModelName"],
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
            "InitialVariantWeight": 1.0,
        }
    ]
    assert endpoint == {
        "EndpointName": "digits-endpoint",
        "EndpointConfigName": config["EndpointConfigName"],
        "Tags": PROJECT_TAGS,
    }
    assert model["Tags"] == config["Tags"] == PROJECT_TAGS
    register, policy = (step.params for step in plan.after)
    assert register == {
        "ServiceNamespace": "sagemaker",
        "ResourceId": RESOURCE,
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": 1,
        "MaxCapacity": 2,
        "Tags": {"mlops:project": "digits", "mlops:endpoint": "digits-endpoint"},
    }
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 5.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": 30,
        "ScaleOutCooldown": 30,
    }


def test_every_deploy_makes_new_names():
    first, second = target(), target()
    assert first.model_name != second.model_name and first.config_name != second.config_name
    assert first.model_name.startswith("digits-model-") and first.config_name.startswith("digits-config-")
    assert len(first.config_name) <= 63


def test_update_without_scaling_takes_the_new_instance_count():
    plan = deploy.plan_deploy(target(), live())
    assert plan.action == "update" and plan.previous_config == "digits-config-old"
    assert operations(plan.rollout) == ["CreateModel", "CreateEndpointConfig", "UpdateEndpoint"]
    assert plan.rollout[-1].params["RetainAllVariantProperties"] is False
    assert plan.after == [] and plan.restore == []


def test_model_only_update_keeps_scaling_in_place():
    plan = deploy.plan_deploy(target(), live(SETTINGS))
    assert operations(plan.rollout) == ["CreateModel", "CreateEndpointConfig", "UpdateEndpoint"]
    assert plan.rollout[-1].params["RetainAllVariantProperties"] is True
    assert plan.after == [] and plan.restore == []


def test_model_only_update_with_new_autoscale_values_changes_only_what_differs():
    plan = deploy.plan_deploy(target(ScalingSettings(1, 4, 5.0, 30, 30)), live(SETTINGS))
    assert "DeregisterScalableTarget" not in operations(plan.rollout)
    assert operations(plan.after) == ["RegisterScalableTarget"]
    assert plan.after[0].params["MaxCapacity"] == 4
    assert deploy.plan_deploy(target(SETTINGS), live(SETTINGS)).after == []


def test_instance_type_change_of_a_scaled_variant_deregisters_updates_and_reregisters():
    plan = deploy.plan_deploy(target(instance_type="ml.c5.large"), live(SETTINGS))
    assert operations(plan.rollout) == [
        "CreateModel",
        "CreateEndpointConfig",
        "DeleteScalingPolicy",
        "DeregisterScalableTarget",
        "UpdateEndpoint",
    ]
    assert plan.rollout[-1].params["RetainAllVariantProperties"] is True
    # Re-applied as it was, once InService; put back on the old variant if the update fails.
    assert operations(plan.after) == operations(plan.restore) == ["RegisterScalableTarget", "PutScalingPolicy"]
    register, policy = (step.params for step in plan.after)
    assert (register["MinCapacity"], register["MaxCapacity"]) == (1, 2)
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 5.0
    assert plan.after[0].note.startswith("after the endpoint is InService")


def test_instance_type_change_with_new_autoscale_values_applies_those():
    plan = deploy.plan_deploy(target(ScalingSettings(2, 6, 12.5, 60, 10), "ml.c5.large"), live(SETTINGS))
    register, policy = (step.params for step in plan.after)
    assert (register["MinCapacity"], register["MaxCapacity"]) == (2, 6)
    assert policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 12.5
    restore_register = plan.restore[0].params
    assert (restore_register["MinCapacity"], restore_register["MaxCapacity"]) == (1, 2)


@pytest.mark.parametrize(
    "status, message",
    [
        ("Failed", "failed earlier (model_fn failed) and serves nothing"),
        ("Updating", "is Updating; wait until it is InService"),
        ("Creating", "is Creating"),
    ],
)
def test_endpoint_not_in_service_is_not_updated(status, message):
    with pytest.raises(OperationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        deploy.plan_deploy(target(), live(status=status))


def test_autoscale_plans_only_what_changes():
    assert autoscaling.plan_autoscale(scaling_state(SETTINGS), SETTINGS, {}).steps == []
    plan = autoscaling.plan_autoscale(scaling_state(SETTINGS), ScalingSettings(1, 2, 9.0, 30, 30), {})
    assert operations(plan.steps) == ["PutScalingPolicy"]
    plan = autoscaling.plan_autoscale(scaling_state(None), SETTINGS, {"mlops:project": "digits"})
    assert operations(plan.steps) == ["RegisterScalableTarget", "PutScalingPolicy"]
    assert plan.steps[0].params["Tags"] == {"mlops:project": "digits"}


def test_autoscale_off_deletes_policies_then_deregisters():
    plan = autoscaling.plan_autoscale(scaling_state(SETTINGS), None, {})
    assert operations(plan.steps) == ["DeleteScalingPolicy", "DeregisterScalableTarget"]
    assert autoscaling.plan_autoscale(scaling_state(None), None, {}).steps == []


class DescribeEndpointAnswers:
    """What DescribeEndpoint answers over time on AWS (the local AWS cannot show the first-poll race)."""

    def __init__(self, *answers: dict):
        self.answers = list(answers)

    def describe_endpoint(self, EndpointName: str) -> dict:  # noqa: N803 (boto3's parameter name)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_waiter_ignores_the_old_in_service_state_right_after_update_then_reports_the_failure():
    answers = DescribeEndpointAnswers(
        {"EndpointStatus": "InService", "EndpointConfigName": "old"},
        {"EndpointStatus": "Updating", "EndpointConfigName": "old"},
        {"EndpointStatus": "InService", "EndpointConfigName": "old", "FailureReason": "ping health check failed"},
    )
    seen = []
    with pytest.raises(deploy.EndpointFailed, match="ping health check failed"):
        deploy.wait_for_endpoint(answers, "e", "new", lambda status, _: seen.append(status), sleep=lambda _: None)
    assert seen == ["InService", "Updating", "InService"]


def test_waiter_returns_once_the_new_config_serves_and_fails_on_failed():
    answers = DescribeEndpointAnswers(
        {"EndpointStatus": "Creating", "EndpointConfigName": "new"},
        {"EndpointStatus": "InService", "EndpointConfigName": "new"},
    )
    assert deploy.wait_for_endpoint(answers, "e", "new", sleep=lambda _: None)["EndpointStatus"] == "InService"
    failed = DescribeEndpointAnswers(
        {"EndpointStatus": "Failed", "EndpointConfigName": "new", "FailureReason": "bad model"}
    )
    with pytest.raises(deploy.EndpointFailed, match="bad model"):
        deploy.wait_for_endpoint(failed, "e", "new", sleep=lambda _: None)


def test_waiter_backs_off_to_15_s_on_aws_and_1_s_locally():
    creating = [{"EndpointStatus": "Creating", "EndpointConfigName": "new"}] * 12
    served = {"EndpointStatus": "InService", "EndpointConfigName": "new"}
    waits: dict[float, list[float]] = {deploy.MAX_POLL_S: [], deploy.LOCAL_MAX_POLL_S: []}
    for cap, slept in waits.items():
        deploy.wait_for_endpoint(
            DescribeEndpointAnswers(*creating, served), "e", "new", sleep=slept.append, max_poll_s=cap
        )
    assert max(waits[deploy.MAX_POLL_S]) == 15.0 and waits[deploy.MAX_POLL_S][0] == 0.5
    assert max(waits[deploy.LOCAL_MAX_POLL_S]) == 1.0 and len(waits[deploy.LOCAL_MAX_POLL_S]) == 12


@pytest.mark.parametrize(
    "status, hint",
    [
        (500, "the model server's output: CloudWatch Logs group /aws/sagemaker/Endpoints/ep"),
        (415, None),  # the caller's mistake, and the message says which
    ],
)
def test_model_errors_point_at_the_log_group_when_the_model_failed(status, hint):
    from botocore.exceptions import ClientError

    from mlops_cli.services.deploy.invoke import invoke_error

    # The shape botocore gives a SageMaker runtime ModelError (its members next to "Error").
    exc = ClientError(
        {
            "Error": {"Code": "ModelError", "Message": "Received error"},
            "OriginalStatusCode": status,
            "OriginalMessage": '{"error": "boom"}',
        },
        "InvokeEndpoint",
    )
    error = invoke_error("ep", exc)
    assert str(error) == f"endpoint 'ep' refused the request ({status}): boom" and error.hint == hint
