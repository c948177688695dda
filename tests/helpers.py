"""Helpers the test packages share: ports, a local AWS of their own, clients and the AWS CLI pointed at one, and a
record of the AWS calls the CLI makes in-process. Fixtures live in tests/conftest.py; plain functions live here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AwsCall:
    service: str  # boto3's name: s3, sagemaker-runtime, ...
    operation: str  # the API's: HeadObject
    params: dict[str, Any]


@contextmanager
def recorded_aws_calls() -> Iterator[list[AwsCall]]:
    """Every AWS request made in this process while the block runs, in order, with the parameters the code
    passed (botocore's `provide-client-params` event, registered on every client created meanwhile)."""
    import botocore.session

    calls: list[AwsCall] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append(AwsCall(model.service_model.service_name, model.name, dict(params)))

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("provide-client-params.*.*", record)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]
