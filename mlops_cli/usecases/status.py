"""`mlops status`: the project's training jobs, endpoints (with cost per hour) and Lambda functions, read in one go;
a status that could not read everything is a failed operation (exit 1), though the readable part is shown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_cli.errors import OperationError

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config


def project_status(config: Config, clients: AwsClients) -> dict[str, Any]:
    """What the project has in AWS now (services/status.py: gather); reads only."""
    from mlops_cli.services.status import gather

    return gather(clients.client, config)


def check_complete(found: dict[str, Any]) -> None:
    """Exit 1 naming what could not be read, once the rest was shown (a CI check must not read "none" from it)."""
    from mlops_cli.services.status import incomplete

    problem = incomplete(found)
    if problem:
        raise OperationError(problem)
