"""moto's Application Auto Scaling records as the local AWS reads them: scalable targets and scaling policies
(typed views, checked on real records by tests/foundation/test_moto_contract.py), the journal paths that change
or delete them (`moto.set`/`moto.delete`), and what the local AWS keeps beside moto's own: a target's tags, a
policy's alarms, the scaling activities."""

from __future__ import annotations

from typing import Any, Protocol, cast

from mlops_cli.local.moto_compat.backends import backend
from mlops_cli.local.moto_compat.records.cloudwatch import Alarm

SERVICE = "application-autoscaling"
TAGS = "mlops_tags"  # a target's tags (moto ignores them), an attribute of moto's target record
# The scaling activities the local autoscaler made (moto keeps none), an attribute of moto's backend.
ACTIVITIES = "mlops_scaling_activities"


class ScalableTarget(Protocol):
    arn: str
    resource_id: str
    scalable_dimension: str
    min_capacity: int
    max_capacity: int


class ScalingPolicy(Protocol):
    policy_name: str
    policy_arn: str
    policy_type: str
    service_namespace: str
    resource_id: str
    account_id: str
    region_name: str
    target_tracking_scaling_policy_configuration: dict[str, Any] | None
    alarms: list[Alarm]


def _targets(account: str, region: str, dimension: str) -> dict[str, Any]:
    return cast("dict[str, Any]", backend(SERVICE, account, region).targets.get(dimension, {}))


def target(account: str, region: str, dimension: str, resource: str) -> ScalableTarget | None:
    return cast("ScalableTarget | None", _targets(account, region, dimension).get(resource))


def target_resources(account: str, region: str, dimension: str) -> list[str]:
    """The resource ids registered as scalable targets of `dimension`."""
    return list(_targets(account, region, dimension))


def target_by_arn(account: str, region: str, arn: str) -> ScalableTarget | None:
    targets = backend(SERVICE, account, region).targets
    return next((found for by_id in targets.values() for found in by_id.values() if found.arn == arn), None)


def target_tags(found: ScalableTarget) -> dict[str, str]:
    return dict(getattr(found, TAGS, {}))


def target_path(account: str, region: str, dimension: str, resource: str) -> tuple[str, ...]:
    """A target's path for the journal's `moto.set` (attributes such as TAGS) and `moto.delete`."""
    return (SERVICE, account, region, "targets", dimension, resource)


def policies(account: str, region: str) -> dict[str, ScalingPolicy]:
    """Every scaling policy, by the key `policy_path` deletes it with."""
    return dict(backend(SERVICE, account, region).policies)


def policy_path(account: str, region: str, key: str) -> tuple[str, ...]:
    return (SERVICE, account, region, "policies", key)


def policy_alarms(policy: ScalingPolicy) -> list[Alarm]:
    """The alarms of a target-tracking policy (none on a policy whose alarms were never made)."""
    return list(getattr(policy, "alarms", []))


def activities(account: str, region: str) -> list[dict[str, Any]]:
    """The scaling activities recorded for the account and region, oldest first (a copy)."""
    return list(getattr(backend(SERVICE, account, region), ACTIVITIES, []))


def activity_log(account: str, region: str) -> list[dict[str, Any]]:
    """The live list of the account and region's scaling activities, which the journal's activity change edits
    in place (created empty on its first change)."""
    found = backend(SERVICE, account, region)
    history = getattr(found, ACTIVITIES, None)
    if history is None:
        history = []
        setattr(found, ACTIVITIES, history)
    return cast("list[dict[str, Any]]", history)
