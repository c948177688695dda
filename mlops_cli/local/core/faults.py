"""Faults on demand: the local AWS answers chosen calls with the errors AWS answers under load or without
permission, so the caller's retries and error handling run here as they would there.

A rule names an operation as `service:Operation` (boto3's service name and AWS's operation name, `*` globs:
`sagemaker:CreateEndpoint`, `s3:*`, `*`), an error kind (ERRORS) and when it strikes: `on_call: N` (the Nth
call of each matching operation, counted from when the rules were set; every HTTP request counts, retries
too), `calls: [N, M]` (calls N to M), `rate: P` (each call with probability P, drawn from a generator
seeded by `seed`, so a run is repeatable), or none of these (every call). The first matching rule that
strikes answers; the request never reaches the service.

Rules come from MLOPS_LOCAL_FAULTS (JSON, or the compact `OP=ERROR[@N|@N-M|%P][#SEED]`, comma separated),
which `mlops local up` sets from the config's `local.faults`, and can be replaced at run time through
CONTROL_PATH (signed with the instance's credentials like every request: the front door refuses others).
The local AWS's own work (jobs, model servers, functions: clients carrying LOCAL_APP_ID) is never faulted:
AWS's own service-side calls are not subject to the caller's throttles or permissions.
"""

from __future__ import annotations

import fnmatch
import json
import os
import random
import re
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

FAULTS_ENV = "MLOPS_LOCAL_FAULTS"
CONTROL_PATH = "/_mlops/faults"
LOCAL_APP_ID = "mlops-local"  # botocore's user_agent_appid (AWS_SDK_UA_APP_ID) of the local AWS's own clients
MAX_LOG = 10_000  # faulted calls remembered for the control route

Answer = tuple[str, int, str]  # (code, HTTP status, message)

# What AWS answers, per error kind: by service where it has its own, else by protocol family. Sources: S3 API
# Reference "Error responses" (SlowDown/ServiceUnavailable 503, InternalError 500, AccessDenied 403); EC2 API
# Reference "Error codes" and "Request throttling" (RequestLimitExceeded 503, Unavailable 503, InternalError 500,
# UnauthorizedOperation 403); Lambda API Reference (TooManyRequestsException 429, ServiceException 500,
# AccessDeniedException 403); the "Common Errors" page every JSON and query service links (ThrottlingException
# 400, InternalFailure 500, ServiceUnavailable 503, AccessDeniedException 400), where query services (IAM, STS)
# spell throttling `Throttling` and denial `AccessDenied` 403. botocore's retry rules (data/_retry.json and
# retries/standard.py) retry every throttling code and status here, and 500/502/503/504: throttling and 5xx are
# what an SDK recovers from; access denied is not.
ERRORS: dict[str, dict[str, Answer]] = {
    "Throttling": {
        "s3": ("SlowDown", 503, "Please reduce your request rate."),
        "ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
        "lambda": ("TooManyRequestsException", 429, "Rate Exceeded."),
        "query": ("Throttling", 400, "Rate exceeded"),
        "json": ("ThrottlingException", 400, "Rate exceeded"),
    },
    "InternalError": {
        "s3": ("InternalError", 500, "We encountered an internal error. Please try again."),
        "ec2": ("InternalError", 500, "An internal error has occurred."),
        "lambda": ("ServiceException", 500, "The Lambda service encountered an internal error."),
        "query": ("InternalFailure", 500, "The request processing has failed because of an unknown error."),
        "json": ("InternalFailure", 500, "The request processing has failed because of an unknown error."),
    },
    "ServiceUnavailable": {
        "s3": ("ServiceUnavailable", 503, "Service is unable to handle request."),
        "ec2": ("Unavailable", 503, "The server is overloaded and can't handle the request."),
        "lambda": ("ServiceUnavailable", 503, "The request has failed due to a temporary failure of the server."),
        "query": ("ServiceUnavailable", 503, "The request has failed due to a temporary failure of the server."),
        "json": ("ServiceUnavailable", 503, "The request has failed due to a temporary failure of the server."),
    },
    "AccessDenied": {
        "s3": ("AccessDenied", 403, ""),
        "ec2": ("UnauthorizedOperation", 403, "You are not authorized to perform this operation. "),
        "lambda": ("AccessDeniedException", 403, ""),
        "query": ("AccessDenied", 403, ""),
        "json": ("AccessDeniedException", 400, ""),
    },
}

# IAM action names that differ from the operation's (Service Authorization Reference, "Actions defined by
# Amazon S3" and "... by AWS Lambda"); every other action is the service's prefix and the operation's name.
ACTIONS = {
    "s3:ListBuckets": "s3:ListAllMyBuckets",
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:CopyObject": "s3:PutObject",
    "s3:UploadPartCopy": "s3:PutObject",
    "s3:DeleteObjects": "s3:DeleteObject",
    "s3:ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "s3:GetObjectAttributes": "s3:GetObject",
    "lambda:Invoke": "lambda:InvokeFunction",
    "sagemaker-runtime:InvokeEndpoint": "sagemaker:InvokeEndpoint",
}
PRINCIPAL = "arn:aws:iam::{account}:user/mlops-local"


def action_of(service: str, operation: str) -> str:
    """The IAM action AWS names when it denies `operation`."""
    name = f"{service}:{operation}"
    return ACTIONS.get(name, name)


def denial_message(service: str, operation: str, account: str) -> str:
    """AWS's wording for an identity without the permission (S3 uses it too since 2024 for same-account calls)."""
    action = action_of(service, operation)
    user = PRINCIPAL.format(account=account)
    return (
        f"User: {user} is not authorized to perform: {action} because no identity-based policy allows the "
        f"{action} action"
    )


class FaultError(ValueError):
    """A rule that cannot be read: the message names the rule and the key."""


@dataclass(frozen=True)
class FaultRule:
    operation: str
    error: str
    on_call: int | None = None
    calls: tuple[int, int] | None = None
    rate: float | None = None
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in asdict(self).items() if value is not None}
        if self.rate is None:
            data.pop("seed")
        return data

    def strikes(self, call: int, draw: random.Random) -> bool:
        if self.on_call is not None:
            return call == self.on_call
        if self.calls is not None:
            return self.calls[0] <= call <= self.calls[1]
        if self.rate is not None:
            return draw.random() < self.rate
        return True


_KEYS = {"operation", "error", "on_call", "calls", "rate", "seed"}
_OPERATION = re.compile(r"^(\*|[a-z0-9*-]+:[A-Za-z0-9*]+)$")


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FaultError(f"{where}: expected a call number >= 1, got {value!r}")
    return value


def parse_rule(data: Any, where: str = "fault") -> FaultRule:
    if not isinstance(data, Mapping):
        raise FaultError(f"{where}: expected a mapping with operation and error, got {type(data).__name__}")
    unknown = set(data) - _KEYS
    if unknown:
        raise FaultError(f"{where}: unknown key {sorted(unknown)[0]!r} (expected {', '.join(sorted(_KEYS))})")
    operation = data.get("operation", "*")
    if not isinstance(operation, str) or not _OPERATION.match(operation):
        raise FaultError(f"{where}.operation: expected 'service:Operation' (globs allowed) or '*', got {operation!r}")
    error = data.get("error")
    if error not in ERRORS:
        raise FaultError(f"{where}.error: expected one of {', '.join(ERRORS)}, got {error!r}")
    chosen = [key for key in ("on_call", "calls", "rate") if data.get(key) is not None]
    if len(chosen) > 1:
        raise FaultError(f"{where}: give one of on_call, calls, rate, not {' and '.join(chosen)}")
    on_call = _count(data["on_call"], f"{where}.on_call") if data.get("on_call") is not None else None
    calls = None
    if data.get("calls") is not None:
        span = data["calls"]
        if not isinstance(span, (list, tuple)) or len(span) != 2:
            raise FaultError(f"{where}.calls: expected [first, last], got {span!r}")
        calls = (_count(span[0], f"{where}.calls"), _count(span[1], f"{where}.calls"))
        if calls[1] < calls[0]:
            raise FaultError(f"{where}.calls: last call {calls[1]} is before first call {calls[0]}")
    rate = data.get("rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1):
        raise FaultError(f"{where}.rate: expected a probability from 0 to 1, got {rate!r}")
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise FaultError(f"{where}.seed: expected an integer, got {seed!r}")
    return FaultRule(operation, str(error), on_call, calls, None if rate is None else float(rate), seed)


def parse_rules(data: Any, where: str = "faults") -> list[FaultRule]:
    if not isinstance(data, list):
        raise FaultError(f"{where}: expected a list of rules, got {type(data).__name__}")
    return [parse_rule(item, f"{where}[{index}]") for index, item in enumerate(data)]


_COMPACT = re.compile(
    r"^(?P<op>[^=]+)=(?P<error>\w+)(?:@(?P<first>\d+)(?:-(?P<last>\d+))?|%(?P<rate>[\d.]+))?(?:#(?P<seed>\d+))?$"
)


def parse_spec(text: str) -> list[FaultRule]:
    """MLOPS_LOCAL_FAULTS: a JSON list of rules, or `OP=ERROR[@N|@N-M|%P][#SEED]` items separated by commas."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            return parse_rules(json.loads(text), FAULTS_ENV)
        except json.JSONDecodeError as exc:
            raise FaultError(f"{FAULTS_ENV}: not valid JSON ({exc})") from None
    rules = []
    for index, item in enumerate(part.strip() for part in text.split(",")):
        found = _COMPACT.match(item)
        if not found:
            raise FaultError(f"{FAULTS_ENV}[{index}]: expected OP=ERROR[@N|@N-M|%P][#SEED], got {item!r}")
        rule: dict[str, Any] = {"operation": found["op"], "error": found["error"]}
        if found["last"]:
            rule["calls"] = [int(found["first"]), int(found["last"])]
        elif found["first"]:
            rule["on_call"] = int(found["first"])
        elif found["rate"]:
            try:
                rule["rate"] = float(found["rate"])
            except ValueError:
                raise FaultError(f"{FAULTS_ENV}[{index}]: {found['rate']!r} is not a probability") from None
        if found["seed"]:
            rule["seed"] = int(found["seed"])
        rules.append(parse_rule(rule, f"{FAULTS_ENV}[{index}]"))
    return rules


def rules_from_env() -> list[FaultRule]:
    return parse_spec(os.environ.get(FAULTS_ENV, ""))


def is_local_work(user_agent: str) -> bool:
    """Whether a request comes from the local AWS's own clients (jobs, model servers, functions, hooks)."""
    return f"app/{LOCAL_APP_ID}" in user_agent.split()


class Faults:
    """The rules in force, their per-operation call counters and what they struck. Thread-safe."""

    def __init__(self, rules: list[FaultRule] | None = None):
        self._lock = threading.Lock()
        self.replace(rules or [])

    def replace(self, rules: list[FaultRule]) -> None:
        """New rules, counted afresh."""
        with self._lock:
            self.rules = list(rules)
            self._counts: Counter[tuple[int, str]] = Counter()
            self._draws = [random.Random(rule.seed) for rule in self.rules]
            self.seen: Counter[str] = Counter()
            self.struck: list[dict[str, Any]] = []

    @property
    def active(self) -> bool:
        return bool(self.rules)

    def strike(self, service: str, operation: str) -> FaultRule | None:
        """Count this call of `service:operation`; the rule that strikes it, if any."""
        name = f"{service}:{operation}"
        with self._lock:
            self.seen[name] += 1
            for index, rule in enumerate(self.rules):
                if not fnmatch.fnmatchcase(name, rule.operation):
                    continue
                self._counts[index, name] += 1
                if rule.strikes(self._counts[index, name], self._draws[index]):
                    if len(self.struck) < MAX_LOG:
                        self.struck.append({"operation": name, "error": rule.error, "call": self._counts[index, name]})
                    return rule
        return None

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": [rule.to_dict() for rule in self.rules],
                "seen": dict(self.seen),
                "struck": list(self.struck),
            }


def answer(rule: FaultRule, service: str, operation: str, protocol: str, account: str) -> Answer:
    """(code, status, message) of `rule`'s error for this call, as its service answers it."""
    table = ERRORS[rule.error]
    code, status, message = table.get(service) or table.get(protocol) or table["json"]
    if rule.error == "AccessDenied":
        message += denial_message(service, operation, account)
    return code, status, message
