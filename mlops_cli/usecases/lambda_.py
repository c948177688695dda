"""`mlops lambda deploy|invoke`: the function in front of the endpoint, brought to what the config says, and
invoked with one image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan.planned import Planned


def planned_lambda_deploy(config: Config, clients: AwsClients) -> Planned:
    """Read what exists, plan what differs; the result is the function and its alias once the plan ran."""
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.lambda_ import function as service

    spec = service.LambdaSpec.from_config(config, clients.account_id, clients.partition)
    package = service.build_package()
    found = service.observe(clients.client, spec)
    plan = service.plan_deploy(spec, package, found)
    return Planned(
        plan,
        finish=lambda _answers: service.deploy_result(clients.client, spec, found, package, plan),
        notices=[]
        if found.endpoint_status is not None
        else [
            f"endpoint {spec.endpoint_name} does not exist (yet): the function answers 502 until "
            "`mlops deploy` creates it"
        ],
        interrupted=(
            f"interrupted: a started update of {spec.function_name} goes on in AWS",
            "re-run `mlops lambda deploy` to finish (it only does what is still missing)",
        ),
    )


def planned_lambda_invoke(config: Config, image: Path | None, url: str | None, top_k: int | None) -> Planned:
    """The event for the image file or URL (checked: exit 2 before any AWS call), one Invoke of the alias; the
    result is the function's predictions."""
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.lambda_ import function as service

    event = service.invocation_event(image, url, top_k)
    function_name, alias = config.function_name, config.lambda_.alias
    source = url if url is not None else str(image)
    return Planned(
        service.plan_invoke(function_name, alias, event),
        finish=lambda answers: service.invocation_result(function_name, alias, answers["answer"], source),
    )
