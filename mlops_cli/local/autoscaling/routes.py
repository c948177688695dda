"""The Application Auto Scaling calls the local AWS answers itself (moto answers the rest): scalable targets of
the endpoints the sagemaker package serves, their tags, target-tracking policies the autoscaler acts on, the
policies' CloudWatch alarms and the scaling activities."""

from __future__ import annotations

from mlops_cli.local.autoscaling import alarms
from mlops_cli.local.autoscaling.activities import ACTIVITY_CHANGE, record_activity
from mlops_cli.local.autoscaling.scaling_requests import ScalingRequests, describe_scaling_activities
from mlops_cli.local.autoscaling.targets import SERVICE, TargetTags
from mlops_cli.local.core.server import Hooks, ServerContext


def register(hooks: Hooks, context: ServerContext) -> None:
    tags = TargetTags(context)
    hosting = context.hosting  # registered before: the endpoints these targets scale
    scaling = ScalingRequests(hosting)
    context.store.register(alarms.CHANGE, alarms.apply)
    context.store.register(ACTIVITY_CHANGE, record_activity)
    hooks.operation(SERVICE, "RegisterScalableTarget", tags.register_scalable_target)  # first: tags on a new target
    hooks.operation(SERVICE, "RegisterScalableTarget", scaling.register_scalable_target)  # then: the variant exists
    hooks.operation(SERVICE, "DeregisterScalableTarget", scaling.deregister_scalable_target)
    hooks.operation(SERVICE, "PutScalingPolicy", scaling.put_scaling_policy)
    hooks.operation(SERVICE, "DescribeScalingActivities", describe_scaling_activities)
    hooks.operation(SERVICE, "TagResource", tags.tag_resource)
    hooks.operation(SERVICE, "UntagResource", tags.untag_resource)
    hooks.operation(SERVICE, "ListTagsForResource", tags.list_tags_for_resource)
