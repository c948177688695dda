"""Execution roles: what the local AWS runs (a training job, a model server, a Lambda function) calls AWS with a
session of the role it was given, as the service does by assuming that role (an STS AssumeRole session, minted
by the root), so the role's policies are what its code may do.

Sessions expire (the local AWS refuses their keys afterwards with ExpiredToken, as AWS does). AWS refreshes a
job's or a function's credentials while it runs; here a process keeps the keys it was started with, so its
sessions last 12 hours (STS's longest) and one is reused for 30 minutes at most."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

_SESSION_NAME = re.compile(r"[^\w+=,.@-]")  # what STS allows in a RoleSessionName
SESSION_S = 12 * 3600  # AssumeRole's DurationSeconds: STS's maximum
REUSE_S = 30 * 60  # a process started with a reused session still has 11.5 hours of it
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
            sts = context.client("sts", region)
            found = sts.assume_role(RoleArn=role_arn, RoleSessionName=name, DurationSeconds=SESSION_S)["Credentials"]
            kept = _SESSIONS[(role_arn, name, region)] = (time.monotonic(), found)
    found = kept[1]
    return {
        "AWS_ACCESS_KEY_ID": found["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
        "AWS_SESSION_TOKEN": found["SessionToken"],
    }
