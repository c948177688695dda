"""The strict gate in front of moto: the service model's constraints, then the AWS behaviours the tool relies on.

Every request of a checked service is parsed and validated (mlops_cli.local.core.validate) before hooks or moto
see it; then the rules below, each naming the AWS source it follows, refuse what AWS refuses and moto
accepts. Scalable-target tags live in autoscaling/targets.py.

`MLOPS_LOCAL_STRICT=0` turns the gate off (to measure what it costs: bench/bench_strict.py).

IAM propagation: a role created less than `MLOPS_LOCAL_IAM_PROPAGATION_S` seconds ago (default
DEFAULT_PROPAGATION_S) cannot be assumed yet, as on AWS, where "changes that you make in IAM take time to
become visible" (IAM User Guide, Troubleshooting IAM: "Changes that I make are not always immediately
visible"). The suite sets it to 0 and one test sets it so the callers' retry paths run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from mlops_cli.local.core.validate import Call, Refusal
from mlops_cli.local.moto_compat.records import iam as iam_records

PROPAGATION_ENV = "MLOPS_LOCAL_IAM_PROPAGATION_S"
DEFAULT_PROPAGATION_S = 3.0
STRICT_ENV = "MLOPS_LOCAL_STRICT"  # "0": no gate at all (moto's own leniency; for measuring the gate's cost)


def propagation_s() -> float:
    raw = os.environ.get(PROPAGATION_ENV, "")
    try:
        return max(0.0, float(raw)) if raw.strip() else DEFAULT_PROPAGATION_S
    except ValueError:
        return DEFAULT_PROPAGATION_S


@dataclass(frozen=True)
class RoleUse:
    """Where an operation names a role that a service must assume, and how that service refuses it."""

    path: tuple[str, ...]
    principal: str
    refuse: Callable[[str], Refusal]


def _sagemaker_refusal(arn: str) -> Refusal:
    # SageMaker API Reference, CreateTrainingJob/CreateModel errors; the message AWS returns is
    # "Could not assume role <arn>. Please ensure that the role exists and allows principal
    # 'sagemaker.amazonaws.com' to assume the role."
    return Refusal(
        400,
        "ValidationException",
        f"Could not assume role {arn}. Please ensure that the role exists "
        "and allows principal 'sagemaker.amazonaws.com' to assume the role.",
    )


def _lambda_refusal(arn: str) -> Refusal:
    # Lambda API Reference, CreateFunction errors: InvalidParameterValueException, "The role defined for the
    # function cannot be assumed by Lambda."
    return Refusal(
        400, "InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda."
    )


SAGEMAKER = "sagemaker.amazonaws.com"
ROLE_USES: dict[tuple[str, str], RoleUse] = {
    ("sagemaker", "CreateTrainingJob"): RoleUse(("RoleArn",), SAGEMAKER, _sagemaker_refusal),
    ("sagemaker", "CreateModel"): RoleUse(("ExecutionRoleArn",), SAGEMAKER, _sagemaker_refusal),
    ("sagemaker", "CreateHyperParameterTuningJob"): RoleUse(
        ("TrainingJobDefinition", "RoleArn"), SAGEMAKER, _sagemaker_refusal
    ),
    ("lambda", "CreateFunction"): RoleUse(("Role",), "lambda.amazonaws.com", _lambda_refusal),
    ("lambda", "UpdateFunctionConfiguration"): RoleUse(("Role",), "lambda.amazonaws.com", _lambda_refusal),
}


def _at(params: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = params
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _trusts(document: Any, principal: str) -> bool:
    """Whether a trust policy allows `principal` (a service) sts:AssumeRole."""
    if isinstance(document, str):
        try:
            document = json.loads(unquote(document) if document.lstrip().startswith("%") else document)
        except ValueError:
            return False
    statements = (document or {}).get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        services = (
            (statement.get("Principal") or {}).get("Service", [])
            if isinstance(statement.get("Principal"), dict)
            else []
        )
        actions = statement.get("Action", [])
        services = [services] if isinstance(services, str) else services
        actions = [actions] if isinstance(actions, str) else actions
        if (
            statement.get("Effect") == "Allow"
            and principal in services
            and any(action in ("sts:AssumeRole", "sts:*", "*") for action in actions)
        ):
            return True
    return False


def _seconds_since(created: Any) -> float:
    from mlops_cli.local import moto_compat

    return (moto_compat.utcnow() - created).total_seconds()


def check_role(call: Call, delay_s: float) -> Refusal | None:
    """A role the service cannot assume: missing, not trusting the service, or created too recently."""
    use = ROLE_USES.get((call.service, call.operation))
    arn = _at(call.params, use.path) if use else None
    if not use or not isinstance(arn, str):
        return None
    role = iam_records.role(arn)
    if role is None or not _trusts(role.assume_role_policy_document, use.principal):
        return use.refuse(arn)
    if delay_s and _seconds_since(role.create_date) < delay_s:
        return use.refuse(arn)
    return None


def gate_from_env() -> StrictGate | None:
    return None if os.environ.get(STRICT_ENV, "1").strip() == "0" else StrictGate()


class StrictGate:
    """Parse, validate, apply the rules; `check` returns a refusal (status, body, headers) or None."""

    def __init__(self, delay_s: float | None = None):
        self.delay_s = propagation_s() if delay_s is None else delay_s

    def check(
        self, environ: dict[str, Any], body: bytes, signing_name: str, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]] | None:
        from mlops_cli.local.core import validate

        try:
            call = validate.parse(environ, body, signing_name, headers)
        except ValueError as exc:
            return (400, *validate.malformed(signing_name, headers, str(exc)))
        if call is None:
            return None
        refusal = validate.check_request(call) or check_role(call, self.delay_s)
        if refusal is None:
            return None
        return (refusal.status, *validate.error_body(call.protocol, refusal))
