"""Strictness: every request is parsed and checked against botocore's service model before moto sees it.

AWS refuses a request whose parameters break the service model's constraints (required members, types,
enums such as instance types, string and list lengths, patterns, numeric ranges) with a 400 in the
protocol's error shape; moto accepts most of them. The local AWS refuses them as AWS does, so a test that
passes here does not fail there on a malformed request.

Parsing uses moto's own request router and protocol parsers (moto.core.routing / moto.core.parse: the
operation and its parameters as a dict, the shape boto3 takes); checking uses `check_params`, which the
dry-run contract test also runs over every planned request: one validator, two uses.

Semantics follow AWS's validation layer, as its messages show ("1 validation error detected: Value 'x' at
'resourceConfig.instanceType' failed to satisfy constraint: Member must satisfy enum value set: [...]"):
a pattern must match the whole value (Java's `matches()`), lengths count characters, nulls of required
members are reported as "Member must not be null". Patterns are Java regular expressions (`\\p{L}` ...),
compiled with the `regex` package, with a time limit per match (request values are untrusted).
"""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_cli.local.core.aws_errors import shaped

# The services the tool calls and the local AWS emulates; requests to others pass unchecked.
SERVICES = (
    "sagemaker",
    "sagemaker-runtime",
    "application-autoscaling",
    "cloudwatch",
    "logs",
    "iam",
    "ec2",
    "s3",
    "lambda",
    "sts",
)
# A bound on one pattern match (botocore's patterns are simple; the bound is against a pathological one). It is
# wall-clock time, so it must hold on a loaded machine too: at 50 ms, a valid job name was refused under load.
PATTERN_TIMEOUT_S = 1.0
ENUM_SHOWN = 12  # AWS prints the whole set; instance-type enums have hundreds of members


@dataclass(frozen=True)
class Call:
    """A request as botocore's model reads it."""

    service: str
    operation: str
    params: dict[str, Any]
    protocol: str


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


# ---------------------------------------------------------------------------------------------- the model


@functools.cache
def service_model(service: str) -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.service_model(service)


@functools.cache
def _index() -> dict[str, list[str]]:
    """SigV4 signing name -> the services signed with it (sagemaker: the control plane and the runtime)."""
    index: dict[str, list[str]] = {}
    for service in SERVICES:
        index.setdefault(service_model(service).signing_name, []).append(service)
    return index


def operation_model(service: str, operation: str) -> Any:
    return service_model(service).operation_model(operation)


@functools.cache
def _compiled(pattern: str) -> Any:
    import regex

    try:
        return regex.compile(pattern)
    except regex.error:  # a pattern the regex package cannot read is not checked rather than refusing all
        return None


# ---------------------------------------------------------------------------------------------- checking


def _shown(value: Any) -> str:
    text = (
        value
        if isinstance(value, str)
        else json.dumps(value, default=str)
        if isinstance(value, (dict, list))
        else str(value)
    )
    return text if len(text) <= 200 else text[:200] + "..."


def _enum_text(values: list[str]) -> str:
    shown = ", ".join(values[:ENUM_SHOWN])
    return f"[{shown}{', ...' if len(values) > ENUM_SHOWN else ''}]"


def _path(parent: str, name: str) -> str:
    name = name[:1].lower() + name[1:]
    return f"{parent}.{name}" if parent else name


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, value: Any, path: str, constraint: str) -> None:
        shown = "null" if value is None else f"'{_shown(value)}'"
        self.errors.append(f"Value {shown} at '{path}' failed to satisfy constraint: {constraint}")

    def wrong_type(self, value: Any, path: str, expected: str) -> None:
        self.errors.append(
            f"Value '{_shown(value)}' at '{path}' must be of type {expected}, not {type(value).__name__}"
        )

    def check(self, shape: Any, value: Any, path: str) -> None:
        handler = getattr(self, f"_{shape.type_name}", None)
        if handler is not None:
            handler(shape, value, path)

    def _structure(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            return self.wrong_type(value, path, "structure")
        if shape.metadata.get("document"):
            return None
        for name in shape.required_members:
            if value.get(name) is None:
                self.fail(None, _path(path, name), "Member must not be null")
        for name, member in value.items():
            if name not in shape.members:
                self.errors.append(
                    f"Unknown parameter '{_path(path, name)}': must be one of {', '.join(shape.members)}"
                )
            elif member is not None:
                self.check(shape.members[name], member, _path(path, name))
        return None

    def _length(self, shape: Any, value: Any, size: int, path: str) -> bool:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and size < low:
            self.fail(value, path, f"Member must have length greater than or equal to {low}")
            return False
        if high is not None and size > high:
            self.fail(value, path, f"Member must have length less than or equal to {high}")
            return False
        return True

    def _list(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, (list, tuple)):
            return self.wrong_type(value, path, "list")
        self._length(shape, value, len(value), path)
        for index, item in enumerate(value, start=1):
            self.check(shape.member, item, f"{path}.{index}.member")
        return None

    def _map(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            return self.wrong_type(value, path, "map")
        self._length(shape, value, len(value), path)
        for key, item in value.items():
            self.check(shape.key, key, f"{path}.key")
            self.check(shape.value, item, f"{path}.{key}.value" if isinstance(key, str) else f"{path}.value")
        return None

    def _string(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, str):
            return self.wrong_type(value, path, "string")
        if not self._length(shape, value, len(value), path):
            return None
        enum = shape.enum
        if enum and value not in enum:
            return self.fail(value, path, f"Member must satisfy enum value set: {_enum_text(enum)}")
        pattern = shape.metadata.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        if compiled is not None:
            try:
                matched = compiled.fullmatch(value, timeout=PATTERN_TIMEOUT_S) is not None
            except TimeoutError:
                matched = False
            if not matched:
                self.fail(value, path, f"Member must satisfy regular expression pattern: {pattern}")
        return None

    def _range(self, shape: Any, value: Any, path: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            self.fail(value, path, f"Member must have value greater than or equal to {low}")
        elif high is not None and value > high:
            self.fail(value, path, f"Member must have value less than or equal to {high}")

    def _integer(self, shape: Any, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            return self.wrong_type(value, path, "integer")
        return self._range(shape, value, path)

    _long = _integer

    def _float(self, shape: Any, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.wrong_type(value, path, "number")
        return self._range(shape, value, path)

    _double = _float

    def _boolean(self, shape: Any, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            self.wrong_type(value, path, "boolean")

    def _blob(self, shape: Any, value: Any, path: str) -> None:
        if isinstance(value, (bytes, bytearray)):
            self._length(shape, value, len(value), path)
        elif not isinstance(value, str) and not hasattr(value, "read"):
            self.wrong_type(value, path, "blob")

    def _timestamp(self, shape: Any, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, (datetime.datetime, str, int, float)):
            self.wrong_type(value, path, "timestamp")


def string_violations(shape: Any, value: str, where: str) -> list[str]:
    """AWS's messages for one string value of a string shape (length, enum, pattern)."""
    checker = _Checker()
    checker.check(shape, value, where)
    return checker.errors


def check_params(service: str, operation: str, params: dict[str, Any]) -> list[str]:
    """Every way `params` break `operation`'s input shape (empty when AWS's validation would accept them)."""
    shape = operation_model(service, operation).input_shape
    if shape is None:
        return [] if not params else [f"{operation} takes no parameters"]
    checker = _Checker()
    checker.check(shape, params, "")
    return checker.errors


def validation_message(errors: list[str]) -> str:
    count = len(errors)
    return f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(errors)


# ---------------------------------------------------------------------------------------------- requests


def _service_of(signing_name: str, headers: dict[str, str]) -> str | None:
    candidates = _index().get(signing_name, [])
    target = headers.get("x-amz-target", "").partition(".")[0]
    for service in candidates:
        model = service_model(service)
        if target and model.metadata.get("targetPrefix") == target:
            return service
        if not target and model.protocol not in ("json",):
            return service
    return None


def _route(environ: dict[str, Any], body: bytes, signing_name: str, headers: dict[str, str]) -> Any:
    """(service, moto's routing of the call) of a call of a checked service, by moto's own router; None when it is
    not one (or not recognised as an operation)."""
    from mlops_cli.local import moto_compat

    service = _service_of(signing_name, headers)
    if service is None:
        return None
    routed = moto_compat.route(service, environ, body)
    return (service, routed) if routed else None


def operation_of(
    environ: dict[str, Any], body: bytes, signing_name: str, headers: dict[str, str]
) -> tuple[str, str] | None:
    """(service, operation name) of a call of a checked service, or None; its parameters are not read."""
    found = _route(environ, body, signing_name, headers)
    return (found[0], found[1][0].name) if found else None


def parse(environ: dict[str, Any], body: bytes, signing_name: str, headers: dict[str, str]) -> Call | None:
    """The request as (service, operation, params); None when it is not a call of a checked service (or is not
    recognised as an operation: moto answers it as before). Raises ValueError on a body that does not parse."""
    from mlops_cli.local import moto_compat

    found = _route(environ, body, signing_name, headers)
    if found is None:
        return None
    service, routed = found
    operation, _, protocol, _ = routed
    params = moto_compat.parse_params(routed, body, _Headers(headers.items()))
    return Call(service, operation.name, params, protocol)


class _Headers(Mapping[str, str]):
    """The request's headers, looked up regardless of case: what moto's parsers need, several times faster than
    werkzeug's environ-backed headers (the parser looks up every header member of the operation)."""

    def __init__(self, pairs: Any) -> None:
        self._by_lower = {name.lower(): (name, value) for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        return self._by_lower[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_lower

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._by_lower.values())

    def __len__(self) -> int:
        return len(self._by_lower)


def refusal_for(call: Call, errors: list[str]) -> Refusal:
    """AWS's error code for a request that breaks the model, per protocol."""
    message = validation_message(errors)
    if call.protocol == "ec2":
        missing = all("must not be null" in error for error in errors)
        return Refusal(400, "MissingParameter" if missing else "InvalidParameterValue", message)
    if call.protocol == "query":
        return Refusal(400, "ValidationError", message)
    if call.protocol == "rest-xml":
        bucket = any(error.split("' at '")[-1].startswith("bucket'") for error in errors)
        return Refusal(400, "InvalidBucketName" if bucket else "InvalidArgument", message)
    return Refusal(400, "ValidationException", message)


def error_body(protocol: str, refusal: Refusal) -> tuple[bytes, dict[str, str]]:
    """The refusal in the protocol's error shape."""
    headers, body = shaped(protocol, refusal.code, refusal.message, refusal.status)
    return body, headers


def check_request(call: Call) -> Refusal | None:
    errors = check_params(call.service, call.operation, call.params)
    return refusal_for(call, errors) if errors else None


def malformed(signing_name: str, headers: dict[str, str], detail: str) -> tuple[bytes, dict[str, str]]:
    """A body that does not parse as the operation's shape: SerializationException (JSON) or the protocol's
    malformed-input error."""
    service = _service_of(signing_name, headers)
    protocol = service_model(service).protocol if service else "json"
    code = {
        "json": "SerializationException",
        "rest-json": "SerializationException",
        "ec2": "InvalidParameterValue",
        "query": "MalformedInput",
        "rest-xml": "MalformedXML",
    }.get(protocol, "SerializationException")
    return error_body(protocol, Refusal(400, code, f"the request could not be read: {detail}"))
