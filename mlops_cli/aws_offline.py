"""An account where nothing exists yet, for `--dry-run` when AWS cannot be reached or no credentials exist.

Clients get a botocore `before-call` hook that answers every read before anything is sent, from the operation's
botocore model: listings (List*, and any operation boto3 can paginate) are empty, a Get/Describe/Head of one
thing answers that it does not exist (with the code that service uses), the caller's identity is a placeholder
account. A plan built from these reads is the plan for a fresh account. Anything else is refused: a dry run
never sends a change, offline least of all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PLACEHOLDER_ACCOUNT = "123456789012"
READS = ("Describe", "Get", "List", "Head")
# What each service answers for a thing that does not exist: (code, HTTP status, message).
NOT_FOUND = {
    "iam": ("NoSuchEntity", 404, "The role cannot be found."),
    "lambda": ("ResourceNotFoundException", 404, "Function not found"),
    "sagemaker": ("ValidationException", 400, "Could not find it: it does not exist"),
    "s3": ("404", 404, "Not Found"),
    "logs": ("ResourceNotFoundException", 400, "The specified log group does not exist."),
    "application-autoscaling": ("ObjectNotFoundException", 400, "No scalable target found"),
    "ec2": ("InvalidInstanceID.NotFound", 400, "does not exist"),
}
# Answers that describe the account itself rather than a thing in it.
ACCOUNT_ANSWERS: dict[tuple[str, str], dict[str, Any]] = {
    ("sts", "GetCallerIdentity"): {
        "Account": PLACEHOLDER_ACCOUNT,
        "Arn": f"arn:aws:iam::{PLACEHOLDER_ACCOUNT}:user/offline",
        "UserId": "OFFLINE",
    },
    # A fresh account's Lambda concurrency: AWS's default quota, nothing reserved.
    ("lambda", "GetAccountSettings"): {
        "AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}
    },
}


def install(client: Any, record: Callable[[str, str], None] | None = None) -> Any:
    """Make `client` answer as a fresh account would, without sending anything; `record(service, operation)` is
    told of each request first."""
    service = client.meta.service_model.service_name

    def answer(model: Any, **_kwargs: Any) -> tuple[Any, dict[str, Any]]:
        from botocore import xform_name
        from botocore.awsrequest import AWSResponse

        if record is not None:
            record(service, model.name)

        ok = AWSResponse("offline", 200, {}, None)

        known = ACCOUNT_ANSWERS.get((service, model.name))
        if known is not None:
            return ok, {**known, "ResponseMetadata": {"HTTPStatusCode": 200}}
        if not model.name.startswith(READS):
            raise RuntimeError(f"offline: {service} {model.name} is a change and is never sent by a dry run")
        if model.name.startswith("List") or client.can_paginate(xform_name(model.name)):
            return ok, empty(model.output_shape)
        code, status, message = NOT_FOUND.get(service, ("ResourceNotFoundException", 404, "not found"))
        error = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        raise client.exceptions.from_code(code)(error, model.name)

    client.meta.events.register("before-call", answer)
    return client


def empty(shape: Any) -> dict[str, Any]:
    """An answer with every list empty (and so no next page)."""
    members = getattr(shape, "members", {}) if shape is not None else {}
    answer: dict[str, Any] = {name: [] for name, member in members.items() if member.type_name == "list"}
    answer["ResponseMetadata"] = {"HTTPStatusCode": 200}
    return answer
