"""AWS's own rules for names in requests to the local AWS, read from botocore's service models.

The local AWS turns some names into folders (a training job's, an endpoint's, a channel's), so a name is
checked against the length and pattern AWS enforces before anything uses it; a request breaking them gets the
ValidationException AWS answers with ("1 validation error detected: Value ... at 'trainingJobName' failed to
satisfy constraint: ..."), with the strict gate's checks (mlops_cli.local.core.validate, which loads the models).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# The members that name resources whose names the local AWS uses (as folders, or to find such resources).
# A dotted path walks into structures and through lists.
NAMED_MEMBERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sagemaker", "CreateTrainingJob"): ("TrainingJobName", "InputDataConfig.ChannelName"),
    ("sagemaker", "StopTrainingJob"): ("TrainingJobName",),
    ("sagemaker", "CreateModel"): ("ModelName",),
    ("sagemaker", "CreateEndpointConfig"): ("EndpointConfigName", "ProductionVariants.ModelName"),
    ("sagemaker", "CreateEndpoint"): ("EndpointName", "EndpointConfigName"),
    ("sagemaker", "UpdateEndpoint"): ("EndpointName", "EndpointConfigName"),
    ("sagemaker", "DeleteEndpoint"): ("EndpointName",),
}


class InvalidRequest(Exception):
    """A request the local AWS refuses, as AWS does, with a ValidationException (HTTP 400)."""

    code = "ValidationException"


def service_model(service: str) -> Any:
    """botocore's model of an AWS service (the API's shapes, their lengths and patterns): the strict gate's."""
    from mlops_cli.local.core.validate import service_model as model

    return model(service)


def _aws_member_name(name: str) -> str:
    return name[:1].lower() + name[1:]


def violations(shape: Any, value: Any, where: str) -> list[str]:
    """AWS's constraint messages for one string value of `shape` (none when it is fine): the strict gate's check
    (mlops_cli.local.core.validate), which the name confinement must not depend on the gate being on for."""
    if shape.type_name != "string" or not isinstance(value, str):
        return []
    from mlops_cli.local.core.validate import string_violations

    return string_violations(shape, value, where)


def _walk(shape: Any, value: Any, path: list[str], where: str) -> Iterator[tuple[Any, Any, str]]:
    """(shape, value, AWS's location label) of every value the member path reaches."""
    if not path:
        yield shape, value, where
        return
    if shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value, start=1):
            yield from _walk(shape.member, item, path, f"{where}.{index}.member")
    elif shape.type_name == "structure" and isinstance(value, dict) and path[0] in shape.members and path[0] in value:
        label = _aws_member_name(path[0])
        yield from _walk(shape.members[path[0]], value[path[0]], path[1:], f"{where}.{label}" if where else label)


def check_names(service: str, operation: str, params: Any) -> None:
    """Raise InvalidRequest when a named member of this request breaks AWS's length or pattern rule."""
    members = NAMED_MEMBERS.get((service, operation))
    if not members or not isinstance(params, dict):
        return
    input_shape = service_model(service).operation_model(operation).input_shape
    found = [
        message
        for member in members
        for shape, value, where in _walk(input_shape, params, member.split("."), "")
        for message in violations(shape, value, where)
    ]
    if found:
        count = len(found)
        raise InvalidRequest(f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(found))
