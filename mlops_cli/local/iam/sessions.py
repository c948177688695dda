"""Execution roles: what the local AWS runs (a training job, a model server, a Lambda function) calls AWS with a
session of the role it was given, as the service does by assuming that role (an STS AssumeRole session, minted
by the root), so the role's policies are what its code may do."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

_SESSION_NAME = re.compile(r"[^\w+=,.@-]")  # what STS allows in a RoleSessionName
REUSE_S = 30 * 60  # sessions last an hour (STS's default); a process started with one is given half of it at least
_LOCK = threading.Lock()
_SESSIONS: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}
_ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:role/")


def role_env(context: Any, role_arn: str | None, session_name: str, region: str) -> dict[str, str]:
    """The credential variables of a new session of `role_arn` (none without a role: the process keeps the
    instance's own)."""
    if not role_arn or not _ROLE_ARN.match(role_arn):  # moto's placeholder role of a model made without one
        return {}
    name = (_SESSION_NAME.sub("-", session_name) or "local")[:64].ljust(2, "-")
    with _LOCK:  # a session is reused while fresh (Lambda starts an environment per cold invocation)
        kept = _SESSIONS.get((role_arn, name, region))
        if kept is None or time.monotonic() - kept[0] > REUSE_S:
            found = context.client("sts", region).assume_role(RoleArn=role_arn, RoleSessionName=name)["Credentials"]
            kept = _SESSIONS[(role_arn, name, region)] = (time.monotonic(), found)
    found = kept[1]
    return {
        "AWS_ACCESS_KEY_ID": found["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
        "AWS_SESSION_TOKEN": found["SessionToken"],
    }
