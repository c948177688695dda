"""`mlops autoscale`: the scaling in place on the endpoint's variant, and the plan to the requested scaling (or to
none, --off)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import UsageError

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.deploy.autoscaling import ScalingState


@dataclass(frozen=True)
class ScalingRequest:
    """What the flags ask for (the endpoint name arrives through the config); None: the config's value."""

    min: int | None = None
    max: int | None = None
    target: float | None = None
    scale_in_cooldown: int | None = None
    scale_out_cooldown: int | None = None
    off: bool = False

    def given(self) -> dict[str, Any]:
        settings = ("min", "max", "target", "scale_in_cooldown", "scale_out_cooldown")
        return {key: getattr(self, key) for key in settings if getattr(self, key) is not None}


def check_flags(request: ScalingRequest, show: bool) -> None:
    if request.off and show:
        raise UsageError("give --off or --show, not both")
    given = request.given()
    if (request.off or show) and given:
        flags = ", ".join(f"--{key.replace('_', '-')}" for key in given)
        raise UsageError(f"{flags} cannot be combined with {'--off' if request.off else '--show'}")


def current_scaling(config: Config, clients: AwsClients, *, need_in_service: bool = False) -> ScalingState:
    """The variant's scaling as it is (the variant checked first; offline: as `mlops deploy` creates it)."""
    from mlops_cli.services.deploy import autoscaling

    name, variant = config.endpoint_name, config.deploy.variant_name
    if not clients.offline:
        autoscaling.check_variant(clients.client("sagemaker"), name, variant, need_in_service=need_in_service)
    return autoscaling.read_state(clients.client(autoscaling.SERVICE), name, variant)


def planned_autoscale(config: Config, clients: AwsClients, request: ScalingRequest) -> Planned:
    """Check the settings (exit 2 before any AWS call), read the scaling in place, plan the change. The result:
    the scaling afterwards, whether anything changed, and the requests sent."""
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services import naming
    from mlops_cli.services.deploy import autoscaling

    name, variant = config.endpoint_name, config.deploy.variant_name
    if request.off:
        desired = None
        current = autoscaling.read_state(clients.client(autoscaling.SERVICE), name, variant)
    else:
        desired = autoscaling.validate(
            replace(autoscaling.ScalingSettings.from_config(config.autoscale), **request.given())
        )
        current = current_scaling(config, clients, need_in_service=True)
    plan = autoscaling.plan_autoscale(current, desired, naming.tag_map(config, endpoint=name))

    def finish(_answers: Any) -> dict[str, Any]:
        after = autoscaling.read_state(clients.client(autoscaling.SERVICE), name, variant)
        return {"scaling": after.to_dict(), "changed": bool(plan.steps), "requests": [s.operation for s in plan.steps]}

    return Planned(plan, finish=finish)
