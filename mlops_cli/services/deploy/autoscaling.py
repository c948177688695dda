"""Target-tracking autoscaling of an endpoint variant (Application Auto Scaling).

A scalable target on `sagemaker:variant:DesiredInstanceCount` (resource id `endpoint/<name>/variant/<variant>`)
and one target-tracking policy on `SageMakerVariantInvocationsPerInstance` (invocations per instance per
minute). Settings are validated before any AWS call; plans hold only the requests that change something,
so applying the same settings twice sends nothing the second time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mlops_cli.aws import error_code
from mlops_cli.errors import OperationError, UsageError
from mlops_cli.plan import Plan, Step
from mlops_cli.plan.sends import sends

if TYPE_CHECKING:
    from mlops_cli.config.schema import AutoscaleConfig

SERVICE = "application-autoscaling"
NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
POLICY_TYPE = "TargetTrackingScaling"

# How users spell each setting (`--autoscale max=2,...` keys and `mlops autoscale --max` flags) -> field.
KEYS = {
    "min": "min",
    "max": "max",
    "target": "target",
    "scale-in-cooldown": "scale_in_cooldown",
    "scale-out-cooldown": "scale_out_cooldown",
}
_INTEGER = re.compile(r"^[0-9]{1,9}$")  # bounded: far above any limit, far below what makes int() slow or fail
_NUMBER = re.compile(r"^[0-9]{1,9}(\.[0-9]{1,9})?$")


@dataclass(frozen=True)
class ScalingSettings:
    min: int
    max: int
    target: float  # invocations per instance per minute
    scale_in_cooldown: int  # seconds
    scale_out_cooldown: int

    @classmethod
    def from_config(cls, autoscale: AutoscaleConfig) -> ScalingSettings:
        return cls(
            autoscale.min,
            autoscale.max,
            float(autoscale.target_invocations),
            autoscale.scale_in_cooldown_s,
            autoscale.scale_out_cooldown_s,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def flag_label(key: str) -> str:
    return f"--{key}"


def spec_label(key: str) -> str:
    return f"--autoscale {key}"


def validate(settings: ScalingSettings, label: Callable[[str], str] = flag_label) -> ScalingSettings:
    """1 <= min <= max, target > 0 and finite, cooldowns >= 0; the message names the flag or key."""
    if settings.min < 1:
        raise UsageError(f"{label('min')} must be at least 1 (got {settings.min})")
    if settings.max < 1:
        raise UsageError(f"{label('max')} must be at least 1 (got {settings.max})")
    if settings.min > settings.max:
        raise UsageError(f"{label('min')} ({settings.min}) must be <= {label('max')} ({settings.max})")
    if not (math.isfinite(settings.target) and settings.target > 0):
        raise UsageError(
            f"{label('target')} must be a number > 0 (invocations per instance per minute), got {settings.target:g}"
        )
    for key in ("scale-in-cooldown", "scale-out-cooldown"):
        value = getattr(settings, KEYS[key])
        if value < 0:
            raise UsageError(f"{label(key)} must be >= 0 seconds (got {value})")
    return settings


def parse_spec(spec: str, defaults: ScalingSettings) -> ScalingSettings:
    """`max=2,min=1,target=5,scale-in-cooldown=30,scale-out-cooldown=30` over `defaults`, strictly."""
    expected = ", ".join(KEYS)
    if not spec.strip():
        raise UsageError(f"--autoscale needs key=value pairs, e.g. max=2 (keys: {expected})")
    changes: dict[str, Any] = {}
    for item in spec.split(","):
        key, equals, value = (part.strip() for part in item.partition("="))
        if not key or not equals:
            raise UsageError(f"--autoscale: '{item.strip()}' is not key=value (keys: {expected})")
        if key not in KEYS:
            raise UsageError(f"--autoscale: unknown key '{key}' (expected one of: {expected})")
        if KEYS[key] in changes:
            raise UsageError(f"--autoscale: '{key}' is given twice")
        if key == "target":
            if not _NUMBER.match(value):
                raise UsageError(f"--autoscale target must be a number > 0, got '{value}'")
            changes["target"] = float(value)
        else:
            if not _INTEGER.match(value):
                raise UsageError(f"--autoscale {key} must be a whole number, got '{value}'")
            changes[KEYS[key]] = int(value)
    return validate(replace(defaults, **changes), spec_label)


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str) -> str:
    return f"{endpoint}-invocations-per-instance"


@dataclass
class ScalingState:
    """What Application Auto Scaling holds for one variant."""

    endpoint: str
    variant: str
    target: dict[str, Any] | None = None
    policies: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)  # the target's tags

    @property
    def resource_id(self) -> str:
        return resource_id(self.endpoint, self.variant)

    @property
    def policy(self) -> dict[str, Any] | None:
        """Our policy (by name), else any target-tracking policy on the invocations metric."""
        ours = [p for p in self.policies if p.get("PolicyName") == policy_name(self.endpoint)]
        theirs = [p for p in self.policies if p.get("PolicyType") == POLICY_TYPE and _metric(p) == METRIC]
        return next(iter(ours or theirs), None)

    def settings(self) -> ScalingSettings | None:
        """The settings in place, or None when there is no target or no invocations policy."""
        policy = self.policy
        if self.target is None or policy is None:
            return None
        tracking = policy.get("TargetTrackingScalingPolicyConfiguration", {})
        return ScalingSettings(
            int(self.target["MinCapacity"]),
            int(self.target["MaxCapacity"]),
            float(tracking.get("TargetValue", 0)),
            int(tracking.get("ScaleInCooldown", 0)),
            int(tracking.get("ScaleOutCooldown", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        settings = self.settings()
        return {
            "endpoint": self.endpoint,
            "variant": self.variant,
            "resource_id": self.resource_id,
            "enabled": self.target is not None,
            "min": self.target["MinCapacity"] if self.target else None,
            "max": self.target["MaxCapacity"] if self.target else None,
            "target": settings.target if settings else None,
            "scale_in_cooldown": settings.scale_in_cooldown if settings else None,
            "scale_out_cooldown": settings.scale_out_cooldown if settings else None,
            "policies": [p["PolicyName"] for p in self.policies],
        }


def _metric(policy: dict[str, Any]) -> str | None:
    tracking = policy.get("TargetTrackingScalingPolicyConfiguration") or {}
    return (tracking.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")


@sends(SERVICE, "DescribeScalableTargets", "ListTagsForResource", "DescribeScalingPolicies")
def read_state(aas: Any, endpoint: str, variant: str) -> ScalingState:
    state = ScalingState(endpoint, variant)
    targets = aas.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[state.resource_id], ScalableDimension=DIMENSION
    )["ScalableTargets"]
    state.target = targets[0] if targets else None
    if state.target is not None and state.target.get("ScalableTargetARN"):
        state.tags = aas.list_tags_for_resource(ResourceARN=state.target["ScalableTargetARN"]).get("Tags", {})
    policies = aas.describe_scaling_policies(
        ServiceNamespace=NAMESPACE, ResourceId=state.resource_id, ScalableDimension=DIMENSION
    )["ScalingPolicies"]
    # The API matches resource ids loosely in some implementations; keep exact matches only.
    state.policies = [p for p in policies if p.get("ResourceId") == state.resource_id]
    return state


def apply_steps(state: ScalingState, desired: ScalingSettings, tags: dict[str, str]) -> list[Step]:
    """The requests that bring `state` to `desired` (none when it is already there). Tags go with
    RegisterScalableTarget only when it creates the target: AWS refuses them for an existing one ("The scalable
    target that you tried to tag already exists"; API Reference, RegisterScalableTarget `Tags`), so an existing
    target missing them gets TagResource."""
    steps: list[Step] = []
    current = state.settings()
    target = state.target
    if target is None or (int(target["MinCapacity"]), int(target["MaxCapacity"])) != (desired.min, desired.max):
        register: dict[str, Any] = {
            "ServiceNamespace": NAMESPACE,
            "ResourceId": state.resource_id,
            "ScalableDimension": DIMENSION,
            "MinCapacity": desired.min,
            "MaxCapacity": desired.max,
        }
        if target is None:
            register["Tags"] = dict(tags)
        steps.append(
            Step(SERVICE, "RegisterScalableTarget", register, note=f"instances between {desired.min} and {desired.max}")
        )
    missing = {key: value for key, value in tags.items() if state.tags.get(key) != value}
    if target is not None and missing and target.get("ScalableTargetARN"):
        steps.append(
            Step(
                SERVICE,
                "TagResource",
                {"ResourceARN": target["ScalableTargetARN"], "Tags": missing},
                note="tags of an existing scalable target",
            )
        )
    policy = state.policy
    if (
        current is None
        or policy is None
        or (current.target, current.scale_in_cooldown, current.scale_out_cooldown)
        != (desired.target, desired.scale_in_cooldown, desired.scale_out_cooldown)
        or policy.get("PolicyName") != policy_name(state.endpoint)
    ):
        steps.append(
            Step(
                SERVICE,
                "PutScalingPolicy",
                {
                    "PolicyName": policy_name(state.endpoint),
                    "ServiceNamespace": NAMESPACE,
                    "ResourceId": state.resource_id,
                    "ScalableDimension": DIMENSION,
                    "PolicyType": POLICY_TYPE,
                    "TargetTrackingScalingPolicyConfiguration": {
                        "TargetValue": desired.target,
                        "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
                        "ScaleInCooldown": desired.scale_in_cooldown,
                        "ScaleOutCooldown": desired.scale_out_cooldown,
                    },
                },
                note=f"keep about {desired.target:g} invocations per instance per minute",
            )
        )
    return steps


def off_steps(state: ScalingState) -> list[Step]:
    """Delete every policy on the variant, then deregister it (none when there is no scaling)."""
    steps = [
        Step(
            SERVICE,
            "DeleteScalingPolicy",
            {
                "PolicyName": policy["PolicyName"],
                "ServiceNamespace": NAMESPACE,
                "ResourceId": state.resource_id,
                "ScalableDimension": DIMENSION,
            },
        )
        for policy in state.policies
    ]
    if state.target is not None:
        steps.append(
            Step(
                SERVICE,
                "DeregisterScalableTarget",
                {"ServiceNamespace": NAMESPACE, "ResourceId": state.resource_id, "ScalableDimension": DIMENSION},
            )
        )
    return steps


@sends("sagemaker", "DescribeEndpoint")
def check_variant(sm: Any, endpoint: str, variant: str, need_in_service: bool = False) -> dict[str, Any]:
    """The endpoint's description; raises when the endpoint or the variant does not exist (or, with
    `need_in_service`, when the endpoint is not InService: scaling cannot be registered before)."""
    from botocore.exceptions import ClientError

    try:
        described = sm.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:
        if error_code(exc) in ("ValidationException", "ResourceNotFound"):
            raise OperationError(
                f"endpoint '{endpoint}' not found", hint="deploy it first with `mlops deploy`, or pass --endpoint NAME"
            ) from None
        raise
    variants = [v["VariantName"] for v in described.get("ProductionVariants", [])]
    if variants and variant not in variants:
        raise OperationError(
            f"endpoint '{endpoint}' has no variant '{variant}' (it has: {', '.join(variants)})",
            hint="set deploy.variant_name in the config",
        )
    serverless = next(
        (
            v
            for v in described.get("ProductionVariants", [])
            if v["VariantName"] == variant and v.get("CurrentServerlessConfig")
        ),
        None,
    )
    if serverless is not None and need_in_service:
        raise UsageError(
            f"endpoint '{endpoint}' is serverless: SageMaker scales it itself, up to MaxConcurrency "
            f"{serverless['CurrentServerlessConfig'].get('MaxConcurrency')}; Application Auto Scaling does not apply",
            hint="change its concurrency with `mlops deploy --serverless memory=MB,concurrency=N`",
        )
    if need_in_service and described["EndpointStatus"] != "InService":
        raise OperationError(
            f"endpoint '{endpoint}' is {described['EndpointStatus']}; scaling can be set once it is InService",
            hint="see `mlops status`",
        )
    return described


def plan_autoscale(state: ScalingState, desired: ScalingSettings | None, tags: dict[str, str]) -> Plan:
    """`mlops autoscale`: apply `desired`, or turn scaling off when `desired` is None."""
    if desired is None:
        plan = Plan(f"turn off autoscaling of {state.resource_id}")
        plan.steps = off_steps(state)
    else:
        plan = Plan(f"autoscale {state.resource_id}")
        plan.steps = apply_steps(state, desired, tags)
    return plan
