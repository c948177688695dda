"""`mlops concurrency set`: the function's concurrency as it is, and the plan to the requested values with its cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import UsageError
from mlops_cli.plan.sends import sends_via
from mlops_cli.services.lambda_.concurrency import read_state

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan.executor import Answers
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.lambda_.concurrency import ConcurrencyState


@dataclass(frozen=True)
class ConcurrencyRequest:
    """What the flags ask for (function name and alias arrive through the config); None: the config's value."""

    reserved: int | None = None  # 0 throttles every invocation, as on AWS
    provisioned: int | None = None
    clear: bool = False
    wait: bool = True
    unreserved: bool = False  # remove the reservation (the function uses the account's unreserved pool)
    max_cost: float | None = None  # USD per month of provisioned concurrency


def check_flags(
    reserved: int | None, provisioned: int | None, clear: bool, show: bool, unreserved: bool = False
) -> None:
    if clear and show:
        raise UsageError("--clear and --show cannot be combined")
    if (clear or show) and (reserved is not None or provisioned is not None or unreserved):
        raise UsageError(f"--{'clear' if clear else 'show'} takes no --reserved/--unreserved/--provisioned")
    if unreserved and reserved is not None:
        raise UsageError("give --reserved N or --unreserved, not both")


def current_state(config: Config, clients: AwsClients) -> ConcurrencyState:
    """Reads only; offline (a dry run without AWS), the function as a fresh account would have it."""
    from mlops_cli.services.lambda_ import concurrency as service

    if clients.offline:
        return service.fresh_state(config.function_name, config.lambda_.alias)
    return service.read_state(clients.client("lambda"), config.function_name, config.lambda_.alias)


@sends_via(read_state)  # the settings afterwards
def planned_concurrency(config: Config, clients: AwsClients, request: ConcurrencyRequest) -> Planned:
    """Check the values (exit 2 before any change), read the function's state, plan set or clear, price it (the
    provisioned concurrency bills by the hour while it is configured; --max-cost checked against a month)."""
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services import cost
    from mlops_cli.services.lambda_ import concurrency as service

    reserved = (
        None
        if request.unreserved
        else config.lambda_.reserved_concurrency
        if request.reserved is None
        else request.reserved
    )
    provisioned = config.lambda_.provisioned_concurrency if request.provisioned is None else request.provisioned
    if not request.clear:
        service.check_values(
            reserved,
            provisioned,
            service.RESERVED_FLAG if request.reserved is not None else "config lambda.reserved_concurrency",
            service.PROVISIONED_FLAG if request.provisioned is not None else "config lambda.provisioned_concurrency",
        )
    estimate = cost.provisioned_cost(
        cost.shipped_prices(), config.lambda_.memory_mb, 0 if request.clear else provisioned or 0
    )
    cost.check_budget(
        estimate, request.max_cost, f"provisioned concurrency {provisioned} x {config.lambda_.memory_mb} MB"
    )
    current = current_state(config, clients)
    if request.clear:
        plan = service.plan_clear(current)
    else:
        plan = service.plan_set(current, reserved, provisioned, request.wait)
        plan.cost = estimate
    lam = clients.client("lambda")

    def finish(_answers: Answers) -> dict[str, Any]:
        after = service.read_state(lam, current.function_name, current.alias)
        return {**after.to_dict(), "changes": service.describe_changes(plan)}

    return Planned(
        plan,
        finish=finish,
        announce=[cost.summary(plan.cost)] if plan.cost is not None and plan.steps else [],
        interrupted=(
            "interrupted: AWS goes on allocating the provisioned concurrency",
            "check it with `mlops concurrency set --show`, remove it with `mlops concurrency set --clear`",
        ),
    )
