"""`mlops teardown`: what the project owns that the flags name, and the plan that deletes it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_cli.errors import UsageError

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.teardown import Inventory


@dataclass(frozen=True)
class TeardownRequest:
    endpoint: str | None = None  # default: the project's endpoint
    everything: bool = False  # --all
    functions: bool = False  # --lambda


def check_flags(request: TeardownRequest) -> None:
    if request.endpoint and request.everything:
        raise UsageError("give --endpoint NAME or --all, not both")
    if request.endpoint:
        _check_endpoint_name(request.endpoint)


def planned_teardown(config: Config, clients: AwsClients, request: TeardownRequest) -> tuple[Inventory, Planned]:
    """The inventory to show before asking, and the plan whose result is one row per deleted resource."""
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services import teardown as service

    inventory = service.find(clients.client, config, request.endpoint, request.everything, request.functions)
    plan = service.plan_teardown(inventory)
    return inventory, Planned(plan, finish=lambda answers: service.outcomes(plan, answers))


def _check_endpoint_name(name: str) -> None:
    """SageMaker's EndpointName rule, before any request (not via the config: the project's own endpoint name
    must stay what the ownership check compares with)."""
    from mlops_cli.config.schema import NAME_PATTERN, PATTERN_MEANINGS

    if len(name) > 63 or not re.fullmatch(NAME_PATTERN, name):
        raise UsageError(f"--endpoint '{name}': expected at most 63 {PATTERN_MEANINGS[NAME_PATTERN]}")
