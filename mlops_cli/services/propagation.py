"""Retrying a call while a new IAM role (or instance profile) propagates.

IAM is eventually consistent: for a few seconds after a role is created or its trust policy changes, the
service that must assume it refuses it (SageMaker: ValidationException "Could not assume role ...";
Lambda: InvalidParameterValueException "The role defined for the function cannot be assumed by Lambda.";
EC2: InvalidParameterValue on `iamInstanceProfile`). IAM User Guide, Troubleshooting IAM, "Changes that I
make are not always immediately visible". A plan step that uses a role it created carries
`Retry(<one of the matches below>)`; code outside plans goes through `retry_while_propagating`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from mlops_cli.aws import ErrorMatch, retry_while

ROLE_PROPAGATION_S = 90.0

T = TypeVar("T")

sagemaker_cannot_assume = ErrorMatch("ValidationException", "assume role")
lambda_cannot_assume = ErrorMatch("InvalidParameterValueException", "role")
ec2_profile_unknown = ErrorMatch("InvalidParameterValue", "iamInstanceProfile")


def waiting_message(exc: BaseException, wait_s: float = ROLE_PROPAGATION_S) -> str:
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (
        f"the new IAM role is not assumable yet ({first_line}); IAM takes a few seconds to "
        f"propagate: retrying with backoff for up to {wait_s:.0f} s"
    )


def retry_while_propagating(
    call: Callable[[], T],
    propagating: Callable[[BaseException], bool],
    *,
    wait_s: float = ROLE_PROPAGATION_S,
    on_wait: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`call()`, retried while it fails with an error `propagating` recognises, for up to `wait_s` seconds;
    `on_wait` hears once that it waits, and why."""
    told = None if on_wait is None else (lambda exc: on_wait(waiting_message(exc, wait_s)))
    return retry_while(call, propagating, wait_s=wait_s, on_wait=told, sleep=sleep)
