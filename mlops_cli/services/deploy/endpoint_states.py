"""What an endpoint's status says to the code that waits on it: deploy's wait and a rollout's."""

from __future__ import annotations

from typing import Any

from mlops_cli.errors import OperationError

# The statuses an endpoint passes through on its way to InService (or Failed).
TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting", "OutOfService")


class EndpointFailed(OperationError):
    """The endpoint ended Failed (or rolled back): the message is why, `description` what DescribeEndpoint said."""

    def __init__(self, message: str, description: dict[str, Any]):
        super().__init__(message)
        self.description = description
