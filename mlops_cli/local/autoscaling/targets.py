"""Tags of scalable targets, which moto ignores (Application Auto Scaling).

- RegisterScalableTarget with `Tags` for a target that already exists is refused, as AWS does
  (Application Auto Scaling API Reference, RegisterScalableTarget, `Tags`: "Use this parameter to tag the
  scalable target when it is created. To tag an existing scalable target, use the TagResource operation.";
  AWS answers ValidationException "The scalable target that you tried to tag already exists."). Tags given at
  creation are kept. This check runs before the one of endpoint_targets.py (the target's endpoint must exist):
  autoscaling/routes.py stacks them in that order.
- TagResource, UntagResource and ListTagsForResource on a target's ARN (moto has none of them); the tags live on
  moto's target object, set through the durable store's journal like every change a hook makes.
"""

from __future__ import annotations

from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse, ServerContext
from mlops_cli.local.moto_compat.records import autoscaling as scaling_records
from mlops_cli.local.moto_compat.records.autoscaling import ScalableTarget

SERVICE = "application-autoscaling"


def _target(request: LocalRequest, resource_id: str, dimension: str) -> ScalableTarget | None:
    return scaling_records.target(request.account, request.region, dimension, resource_id)


def _set_tags(context: ServerContext, request: LocalRequest, target: ScalableTarget, tags: dict[str, str]) -> None:
    path = scaling_records.target_path(request.account, request.region, target.scalable_dimension, target.resource_id)
    context.store.call("moto.set", {"path": path, "attributes": {scaling_records.TAGS: tags}})


class TargetTags:
    """The tag calls on scalable targets, and the tag rule of RegisterScalableTarget."""

    def __init__(self, context: ServerContext):
        self.context = context

    def register_scalable_target(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        exists = _target(request, params.get("ResourceId", ""), params.get("ScalableDimension", "")) is not None
        if exists and params.get("Tags"):
            return LocalResponse.aws_error(
                "ValidationException",
                "The scalable target that you tried to tag already exists. To update "
                "tags on an existing scalable target, use the TagResource operation.",
            )
        response = forward(request)
        created = _target(request, params.get("ResourceId", ""), params.get("ScalableDimension", ""))
        if response.status == 200 and params.get("Tags") and created is not None:
            _set_tags(self.context, request, created, dict(params["Tags"]))
        return response

    def tag_resource(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        target = _found(request)
        if target is None:
            return _not_found(request)
        tags = {**scaling_records.target_tags(target), **request.json().get("Tags", {})}
        _set_tags(self.context, request, target, tags)
        return LocalResponse.json({})

    def untag_resource(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        target = _found(request)
        if target is None:
            return _not_found(request)
        removed = set(request.json().get("TagKeys", []))
        tags = {k: v for k, v in scaling_records.target_tags(target).items() if k not in removed}
        _set_tags(self.context, request, target, tags)
        return LocalResponse.json({})

    def list_tags_for_resource(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        target = _found(request)
        if target is None:
            return _not_found(request)
        return LocalResponse.json({"Tags": scaling_records.target_tags(target)})


def _found(request: LocalRequest) -> ScalableTarget | None:
    return scaling_records.target_by_arn(request.account, request.region, request.json().get("ResourceARN", ""))


def _not_found(request: LocalRequest) -> LocalResponse:
    return LocalResponse.aws_error(
        "ResourceNotFoundException", f"No scalable target found for {request.json().get('ResourceARN', '')}"
    )
