"""What a function sends to AWS outside any plan, declared on the function itself.

Most requests are plan steps (steps.py), and `Plan.operations()` lists them. The rest (a job followed until it
ends, the reads that only find something in an account where the project's resources exist, the stop sent on
Ctrl-C, a poll's describes) are sent by plain functions; each declares what it sends next to its code:

    @sends("sagemaker", "DescribeTrainingJob")
    @sends("logs", "DescribeLogStreams", "GetLogEvents")
    def follow_job(...): ...

    @sends_via(read_state)  # and whatever read_state declares
    def find(...): ...

`mlops config permissions` grants what `sent_by` collects; tests/strict/test_permissions.py checks the calls real
runs make against it, so a declaration that falls behind its function fails a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Operation = tuple[str, str]  # (service, operation) as botocore names them: ("sagemaker", "DescribeTrainingJob")
F = TypeVar("F", bound=Callable[..., Any])
_SENDS = "__aws_sends__"
_VIA = "__aws_sends_via__"


def sends(service: str, *operations: str) -> Callable[[F], F]:
    """Declare that the decorated function may send these operations of `service` (stack one per service)."""

    def declare(function: F) -> F:
        setattr(function, _SENDS, (*getattr(function, _SENDS, ()), *((service, op) for op in operations)))
        return function

    return declare


def sends_via(*functions: Callable[..., Any]) -> Callable[[F], F]:
    """Declare that the decorated function sends what these (declared) functions send."""

    def declare(function: F) -> F:
        setattr(function, _VIA, (*getattr(function, _VIA, ()), *functions))
        return function

    return declare


def sent_by(*functions: Callable[..., Any]) -> tuple[Operation, ...]:
    """Every operation the functions declare, through `sends_via` too; a function that declares nothing is a
    programming error (a silent empty answer would grant too little)."""
    found: dict[Operation, None] = {}
    for function in functions:
        if not hasattr(function, _SENDS) and not hasattr(function, _VIA):
            raise TypeError(f"{function.__qualname__} declares no @sends")
        found.update(dict.fromkeys(getattr(function, _SENDS, ())))
        for inner in getattr(function, _VIA, ()):
            found.update(dict.fromkeys(sent_by(inner)))
    return tuple(found)
