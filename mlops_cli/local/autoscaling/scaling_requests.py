"""The Application Auto Scaling requests about SageMaker variants that the local AWS answers beyond moto.

- RegisterScalableTarget refuses a variant that does not exist (this check runs after the tags' one, targets.py:
  routes.py stacks them in that order).
- DeregisterScalableTarget also deletes the target's scaling policies and their alarms, as AWS does (moto keeps
  them).
- PutScalingPolicy: a target-tracking policy on a variant gets its two CloudWatch alarms (alarms.py), which the
  autoscaler then acts on.
- DescribeScalingActivities (moto lacks it) answers from the activities the autoscaler recorded (activities.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_cli.local.autoscaling import alarms as scaling_alarms
from mlops_cli.local.autoscaling.endpoint_targets import delete_policies
from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse
from mlops_cli.local.moto_compat.records import autoscaling as scaling_records
from mlops_cli.local.moto_compat.records import sagemaker as records

if TYPE_CHECKING:
    from mlops_cli.local.sagemaker.serving import Serving


class ScalingRequests:
    """The requests about the variants of the endpoints `hosting` serves (under its lock, which the autoscaler
    evaluates under)."""

    def __init__(self, hosting: Serving):
        self.hosting = hosting

    def register_scalable_target(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        resource = params.get("ResourceId", "")
        if params.get("ServiceNamespace") == "sagemaker":
            parts = resource.split("/")
            endpoint = (
                records.endpoint(request.account, request.region, parts[1])
                if len(parts) == 4 and parts[0] == "endpoint"
                else None
            )
            variants = [v["VariantName"] for v in endpoint.production_variants] if endpoint else []
            if endpoint is None or parts[3] not in variants:
                return LocalResponse.aws_error(
                    "ValidationException",
                    f"Unable to register scalable target: resource {resource} does not exist "
                    "(no such endpoint or variant).",
                )
        return forward(request)

    def deregister_scalable_target(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        response = forward(request)
        if response.status == 200:
            params = request.json()
            with self.hosting.lock:
                delete_policies(self.hosting.context, request, params.get("ServiceNamespace"), params.get("ResourceId"))
        return response

    def put_scaling_policy(self, request: LocalRequest, forward: Any) -> Any:
        """PutScalingPolicy, and for a target-tracking policy on a SageMaker variant its two CloudWatch alarms
        (a journaled change of the local AWS, so they survive a restart with the same names)."""
        response = forward(request)
        params = request.json()
        if response.status == 200 and params.get("ServiceNamespace") == "sagemaker":
            tracking = params.get("TargetTrackingScalingPolicyConfiguration") or {}
            target = tracking.get("TargetValue") if params.get("PolicyType") == "TargetTrackingScaling" else None
            with self.hosting.lock:
                self.hosting.context.store.call(
                    scaling_alarms.CHANGE,
                    {
                        "account": request.account,
                        "region": request.region,
                        "resource": params.get("ResourceId", ""),
                        "policy": params.get("PolicyName", ""),
                        "target": target,
                    },
                )
        return response


def describe_scaling_activities(request: LocalRequest, forward: Any) -> Any:
    """DescribeScalingActivities (moto lacks it): the activities kept on moto's Application Auto Scaling backend
    (oldest first, timestamps in epoch seconds), newest first, filtered and paginated as the API describes."""
    params = request.json()
    wanted = {key: params[key] for key in ("ServiceNamespace", "ResourceId", "ScalableDimension") if params.get(key)}
    found = [
        dict(a)
        for a in reversed(scaling_records.activities(request.account, request.region))
        if all(a.get(key) == value for key, value in wanted.items())
    ]
    start = int(params["NextToken"]) if str(params.get("NextToken", "")).isdigit() else 0
    size = int(params.get("MaxResults") or 50)
    answer: dict[str, Any] = {"ScalingActivities": found[start : start + size]}
    if start + size < len(found):
        answer["NextToken"] = str(start + size)
    return LocalResponse.json(answer)
