"""moto's Lambda functions as the local AWS runs them: a typed view of a function (version) and of the backend
calls used, checked on a real function by tests/foundation/test_moto_contract.py. The backend is moto's
Docker-less one, the one its server runs with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, cast


class LambdaFunction(Protocol):
    """A function version as moto keeps it (its code, its configuration)."""

    function_name: str
    function_arn: str
    version: str
    account_id: str
    region: str
    role: str
    handler: str
    run_time: str
    timeout: int
    memory_size: int
    environment_vars: dict[str, str]
    code_bytes: bytes
    code_digest: str
    code_size: int
    logs_group_name: str
    reserved_concurrency: int | None


class Alias(Protocol):
    function_version: str


class Functions(Protocol):
    """moto's Lambda backend of an account and region, as far as the local AWS uses it. `get_function` and
    `get_alias` raise moto's errors (UnknownFunctionException, ...) for what does not exist."""

    def get_function(self, function_name_or_arn: str, qualifier: str | None = None) -> LambdaFunction: ...

    def list_functions(self) -> Iterable[LambdaFunction]: ...

    def get_alias(self, name: str, function_name: str) -> Alias: ...


def functions(account: str, region: str) -> Functions:
    from moto.awslambda.utils import get_backend

    return cast("Functions", get_backend(account, region))
