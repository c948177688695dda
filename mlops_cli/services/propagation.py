"""Retrying a call while a new IAM role (or instance profile) propagates.

IAM is eventually consistent: for a few seconds after a role is created or its trust policy changes, the
service that must assume it refuses it (SageMaker: ValidationException "Could not assume role ...";
Lambda: InvalidParameterValueException "The role defined for the function cannot be assumed by Lambda.";
EC2: InvalidParameterValue on `iamInstanceProfile`). IAM User Guide, Troubleshooting IAM, "Changes that I
make are not always immediately visible". Every caller that creates a role and then uses it goes through
`retry_while_propagating`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

ROLE_PROPAGATION_S = 90.0
FIRST_DELAY_S = 1.0
MAX_DELAY_S = 10.0

T = TypeVar("T")


def error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def sagemaker_cannot_assume(exc: BaseException) -> bool:
    return error_code(exc) == "ValidationException" and "assume role" in str(exc).lower()


def lambda_cannot_assume(exc: BaseException) -> bool:
    return error_code(exc) == "InvalidParameterValueException" and "role" in str(exc).lower()


def ec2_profile_unknown(exc: BaseException) -> bool:
    return error_code(exc) == "InvalidParameterValue" and "iamInstanceProfile" in str(exc)


def retry_while_propagating(
    call: Callable[[], T],
    propagating: Callable[[BaseException], bool],
    *,
    wait_s: float = ROLE_PROPAGATION_S,
    on_wait: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`call()`, retried with exponential backoff (1 s doubling to 10 s) for up to `wait_s` seconds while it fails
    with an error `propagating` recognises; `on_wait` hears once that it waits, and why. Other errors, and the
    last one once the time is up, are raised."""
    deadline = clock() + wait_s
    delay = FIRST_DELAY_S
    told = False
    while True:
        try:
            return call()
        except Exception as exc:
            if not propagating(exc) or clock() + delay > deadline:
                raise
            if on_wait is not None and not told:
                on_wait(
                    f"the new IAM role is not assumable yet ({_first_line(exc)}); IAM takes a few seconds to "
                    f"propagate: retrying with backoff for up to {wait_s:.0f} s"
                )
                told = True
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)


def _first_line(exc: BaseException) -> Any:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
