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

from typing import Any

from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse, ServerContext

SERVICE = "application-autoscaling"


def _backend(request: LocalRequest) -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.backend("application-autoscaling", request.account, request.region)


def _target(backend: Any, resource_id: str, dimension: str) -> Any:
    return backend.targets.get(dimension, {}).get(resource_id)


def _target_by_arn(backend: Any, arn: str) -> Any:
    return next((target for by_id in backend.targets.values() for target in by_id.values() if target.arn == arn), None)


def _set_tags(context: ServerContext, request: LocalRequest, target: Any, tags: dict[str, str]) -> None:
    context.store.call(
        "moto.set",
        {
            "path": (
                SERVICE,
                request.account,
                request.region,
                "targets",
                target.scalable_dimension,
                target.resource_id,
            ),
            "attributes": {"mlops_tags": tags},
        },
    )


class TargetTags:
    """The tag calls on scalable targets, and the tag rule of RegisterScalableTarget."""

    def __init__(self, context: ServerContext):
        self.context = context

    def register_scalable_target(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        backend = _backend(request)
        exists = _target(backend, params.get("ResourceId", ""), params.get("ScalableDimension", "")) is not None
        if exists and params.get("Tags"):
            return LocalResponse.aws_error(
                "ValidationException",
                "The scalable target that you tried to tag already exists. To update "
                "tags on an existing scalable target, use the TagResource operation.",
            )
        response = forward(request)
        if response.status == 200 and params.get("Tags"):
            _set_tags(
                self.context,
                request,
                _target(backend, params["ResourceId"], params["ScalableDimension"]),
                dict(params["Tags"]),
            )
        return response

    def tag_resource(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        target = _found(request)
        if target is None:
            return _not_found(request)
        tags = {**getattr(target, "mlops_tags", {}), **request.json().get("Tags", {})}
        _set_tags(self.context, request, target, tags)
        return LocalResponse.json({})

    def untag_resource(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        target = _found(request)
        if target is None:
            return _not_found(request)
        removed = set(request.json().get("TagKeys", []))
        tags = {k: v for k, v in getattr(target, "mlops_tags", {}).items() if k not in removed}
        _set_tags(self.context, request, target, tags)
        return LocalResponse.json({})

    def list_tags_for_resource(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        target = _found(request)
        if target is None:
            return _not_found(request)
        return LocalResponse.json({"Tags": getattr(target, "mlops_tags", {})})


def _found(request: LocalRequest) -> Any:
    return _target_by_arn(_backend(request), request.json().get("ResourceARN", ""))


def _not_found(request: LocalRequest) -> LocalResponse:
    return LocalResponse.aws_error(
        "ResourceNotFoundException", f"No scalable target found for {request.json().get('ResourceARN', '')}"
    )
