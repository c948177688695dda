"""What the endpoints' hosting (hosting.Hosting) offers the parts that act on it: the autoscaler, Application Auto
Scaling's requests, serverless endpoints and traffic shifts. Typed here so that none of them imports hosting.py,
which builds them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from mlops_cli.local.core.server import LocalRequest, ServerContext
    from mlops_cli.local.sagemaker.hosting_runner import ModelServer


class Shifting(Protocol):
    @property
    def active(self) -> Mapping[str, Any]:  # endpoint -> its canary/linear update under way (traffic_shift.py)
        ...


class Serving(Protocol):
    context: ServerContext

    @property
    def shifts(self) -> Shifting: ...

    serving: dict[str, ModelServer]  # endpoint -> the model server answering for it
    starting: dict[str, ModelServer]  # endpoint -> the one being started
    generation: dict[str, int]  # endpoint -> its latest start (bump)

    @property
    def lock(self) -> AbstractContextManager[Any]:  # guards serving and starting
        ...

    def bump(self, name: str) -> int:
        """A new generation of the endpoint: a start begun before it stops itself."""
        ...

    def launch(
        self, request: LocalRequest, name: str, config_name: str, generation: int, update: dict[str, Any] | None
    ) -> ModelServer: ...
