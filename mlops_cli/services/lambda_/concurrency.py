"""`mlops concurrency set`: reserved concurrency on the function, provisioned concurrency on its alias.

Reserved concurrency caps the function and sets capacity aside for it; provisioned concurrency keeps that
many execution environments initialised for a published version or an alias (never `$LATEST`) and comes
out of the reservation. As on AWS, a reservation of 0 throttles every invocation (the function's off switch:
PutFunctionConcurrency 0); no reservation at all (None here, DeleteFunctionConcurrency) lets the function use
the account's unreserved pool. Provisioned concurrency 0 means none.

Every rule is checked before anything is changed: values are integers >= 0, provisioned <= reserved when
there is a reservation, and the reservation fits the account: AWS keeps 100 units of the account's
concurrency unreserved, so a function may reserve at most UnreservedConcurrentExecutions (from
GetAccountSettings) + what it already reserves - 100.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops_cli.aws import absent_on, error_code
from mlops_cli.errors import OperationError, UsageError
from mlops_cli.plan import Plan, Poll, Step
from mlops_cli.plan.sends import sends, sends_via, sent_by

MIN_UNRESERVED = 100  # AWS keeps this much of the account's concurrency unreserved
WAIT_TIMEOUT_S = 30 * 60.0
FIRST_POLL_S = 1.0
MAX_POLL_S = 10.0


@dataclass
class ConcurrencyState:
    function_name: str
    alias: str
    alias_version: str
    reserved: int | None  # None: no reservation
    provisioned: dict[str, Any] | None  # GetProvisionedConcurrencyConfig's answer; None: none
    account_limit: int
    unreserved: int

    @property
    def provisioned_requested(self) -> int:
        return int(self.provisioned["RequestedProvisionedConcurrentExecutions"]) if self.provisioned else 0

    @property
    def reservable(self) -> int:
        """The most this function may reserve: what is unreserved plus its own reservation, less AWS's floor."""
        return self.unreserved + (self.reserved or 0) - MIN_UNRESERVED

    def to_dict(self) -> dict[str, Any]:
        provisioned = self.provisioned or {}
        return {
            "function": self.function_name,
            "alias": self.alias,
            "alias_version": self.alias_version,
            "reserved": self.reserved,
            "provisioned": {
                "requested": provisioned.get("RequestedProvisionedConcurrentExecutions", 0),
                "allocated": provisioned.get("AllocatedProvisionedConcurrentExecutions", 0),
                "available": provisioned.get("AvailableProvisionedConcurrentExecutions", 0),
                "status": provisioned.get("Status"),
                "status_reason": provisioned.get("StatusReason"),
            },
            "account": {"limit": self.account_limit, "unreserved": self.unreserved, "reservable": self.reservable},
        }


@sends("lambda", "GetProvisionedConcurrencyConfig")
def read_provisioned(lam: Any, function_name: str, alias: str) -> dict[str, Any] | None:
    answer = absent_on(
        ("ProvisionedConcurrencyConfigNotFoundException",),
        lambda: lam.get_provisioned_concurrency_config(FunctionName=function_name, Qualifier=alias),
    )
    if answer is not None:
        answer.pop("ResponseMetadata", None)
    return answer


@sends("lambda", "GetFunctionConcurrency", "GetAlias", "GetAccountSettings")
@sends_via(read_provisioned)
def read_state(lam: Any, function_name: str, alias: str) -> ConcurrencyState:
    """Reads only: the function's reservation (GetFunctionConcurrency, which answers a reservation of 0 as 0),
    the alias and its provisioned config, the account's capacity."""
    try:
        reserved = lam.get_function_concurrency(FunctionName=function_name).get("ReservedConcurrentExecutions")
        alias_info = lam.get_alias(FunctionName=function_name, Name=alias)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise UsageError(
                f"Lambda function {function_name} or its alias '{alias}' does not exist",
                hint="deploy it first: mlops lambda deploy",
            ) from None
        raise
    limits = lam.get_account_settings()["AccountLimit"]
    return ConcurrencyState(
        function_name=function_name,
        alias=alias,
        alias_version=str(alias_info["FunctionVersion"]),
        reserved=None if reserved is None else int(reserved),
        provisioned=read_provisioned(lam, function_name, alias),
        account_limit=int(limits["ConcurrentExecutions"]),
        unreserved=int(limits["UnreservedConcurrentExecutions"]),
    )


def fresh_state(function_name: str, alias: str) -> ConcurrencyState:
    """The function as `mlops lambda deploy` leaves it in a fresh account (version 1 behind the alias, no
    concurrency settings) under AWS's default account quota: what an offline dry run plans against."""
    return ConcurrencyState(function_name, alias, "1", None, None, account_limit=1000, unreserved=1000)


RESERVED_FLAG, PROVISIONED_FLAG = "--reserved", "--provisioned"


def check_values(
    reserved: int | None,
    provisioned: int,
    reserved_from: str = RESERVED_FLAG,
    provisioned_from: str = PROVISIONED_FLAG,
) -> None:
    """The rules that need no AWS state (checked before any request, even a read). `reserved` None: no
    reservation; 0: every invocation throttled. `*_from` names where each value came from (a flag, or the config
    key when the user typed no flag), so a refusal names what the user can change."""
    for flag, value, meaning in (
        (reserved_from, reserved, "0 throttles every invocation; --unreserved removes the reservation"),
        (provisioned_from, provisioned, "0 = none"),
    ):
        if value is not None and (type(value) is not int or value < 0):
            raise UsageError(f"{flag} must be an integer >= 0 ({meaning}), not {value!r}")
    if reserved is not None and provisioned > reserved:
        raise UsageError(
            f"{provisioned_from} {provisioned} is more than {reserved_from} {reserved}: provisioned concurrency "
            "comes out of the function's reservation"
            + (" (a reservation of 0 lets nothing run; --unreserved removes it)" if reserved == 0 else "")
        )


def describe_reserved(reserved: int | None) -> str:
    if reserved is None:
        return "none (unreserved pool)"
    return "0 (every invocation throttled)" if reserved == 0 else str(reserved)


def validate(state: ConcurrencyState, reserved: int | None, provisioned: int) -> None:
    """Refuse (UsageError, exit 2) anything AWS would refuse or that cannot be satisfied; nothing sent yet."""
    check_values(reserved, provisioned)
    if provisioned and state.alias_version == "$LATEST":
        raise UsageError(
            f"alias '{state.alias}' points at $LATEST; provisioned concurrency needs a published version",
            hint="publish one with `mlops lambda deploy`",
        )
    if reserved is not None and reserved > state.reservable:
        raise UsageError(
            f"--reserved {reserved} does not fit the account: at most {max(state.reservable, 0)} can be reserved for "
            f"{state.function_name} ({state.unreserved} unreserved + {state.reserved or 0} it holds - "
            f"{MIN_UNRESERVED} AWS keeps unreserved)"
        )
    if reserved is None and provisioned:
        # What the function holds now (its reservation, or its provisioned concurrency) returns to the pool.
        held = state.reserved if state.reserved is not None else state.provisioned_requested
        spare = state.unreserved + held - MIN_UNRESERVED
        if provisioned > spare:
            raise UsageError(
                f"--provisioned {provisioned} does not fit the account's unreserved concurrency: at most "
                f"{max(spare, 0)} ({MIN_UNRESERVED} must stay unreserved)"
            )


def plan_set(state: ConcurrencyState, reserved: int | None, provisioned: int, wait: bool = True) -> Plan:
    """The requests that take the function from `state` to the wanted values (none when already there); with
    `wait`, until the provisioned concurrency is READY. `reserved` None removes the reservation."""
    validate(state, reserved, provisioned)
    name, alias = state.function_name, state.alias
    plan = Plan(
        f"concurrency of {name}: reserved {describe_reserved(reserved)}, provisioned {provisioned or 'none'} on {alias}"
    )
    reserved_steps: list[Step] = []
    if reserved is not None and reserved != state.reserved:
        reserved_steps.append(
            Step(
                "lambda",
                "PutFunctionConcurrency",
                {"FunctionName": name, "ReservedConcurrentExecutions": reserved},
                note="0 throttles every invocation until the reservation changes" if reserved == 0 else "",
            )
        )
    elif reserved is None and state.reserved is not None:
        reserved_steps.append(
            Step(
                "lambda",
                "DeleteFunctionConcurrency",
                {"FunctionName": name},
                note="no reservation: the function uses the account's unreserved pool",
            )
        )
    provisioned_steps: list[Step] = []
    status = (state.provisioned or {}).get("Status")
    ready = Poll(
        lambda client_for, report: wait_provisioned(client_for("lambda"), name, alias, report),
        "READY",
        sends=sent_by(wait_provisioned),
    )
    if provisioned and (provisioned != state.provisioned_requested or status == "FAILED"):
        provisioned_steps.append(
            Step(
                "lambda",
                "PutProvisionedConcurrencyConfig",
                {"FunctionName": name, "Qualifier": alias, "ProvisionedConcurrentExecutions": provisioned},
                note="retry of a FAILED allocation" if provisioned == state.provisioned_requested else "",
                wait=ready if wait else None,
            )
        )
    elif provisioned and wait and status != "READY":
        provisioned_steps.append(
            Step(
                "lambda",
                "GetProvisionedConcurrencyConfig",
                {"FunctionName": name, "Qualifier": alias},
                note=f"the requested provisioned concurrency is {status}",
                wait=ready,
            )
        )
    elif not provisioned and state.provisioned:
        provisioned_steps.append(
            Step("lambda", "DeleteProvisionedConcurrencyConfig", {"FunctionName": name, "Qualifier": alias})
        )
    # Lower the provisioned concurrency before the reservation under it shrinks; raise it after it grew.
    if provisioned < state.provisioned_requested:
        plan.steps += provisioned_steps + reserved_steps
    else:
        plan.steps += reserved_steps + provisioned_steps
    return plan


def plan_clear(state: ConcurrencyState) -> Plan:
    plan = Plan(f"clear the concurrency settings of {state.function_name}")
    if state.provisioned:
        plan.add(
            "lambda",
            "DeleteProvisionedConcurrencyConfig",
            {"FunctionName": state.function_name, "Qualifier": state.alias},
        )
    if state.reserved is not None:
        plan.add("lambda", "DeleteFunctionConcurrency", {"FunctionName": state.function_name})
    return plan


def describe_changes(plan: Plan) -> list[str]:
    """One line per change, e.g. `PutFunctionConcurrency digits-invoke = 10`."""
    lines = []
    for step in plan.steps:
        if step.kind == "read":
            continue
        params = step.params
        target = params["FunctionName"] + (f":{params['Qualifier']}" if "Qualifier" in params else "")
        value = params.get("ReservedConcurrentExecutions", params.get("ProvisionedConcurrentExecutions"))
        lines.append(f"{step.operation} {target}" + (f" = {value}" if value is not None else ""))
    return lines


@sends_via(read_provisioned)
def wait_provisioned(
    lam: Any, function_name: str, alias: str, report: Callable[[str], None], timeout_s: float = WAIT_TIMEOUT_S
) -> dict[str, Any]:
    """Poll until the alias's provisioned concurrency is READY; FAILED raises with AWS's StatusReason."""
    deadline = time.monotonic() + timeout_s
    delay = FIRST_POLL_S
    while True:
        config = read_provisioned(lam, function_name, alias)
        if config is None:
            raise OperationError(f"the provisioned concurrency config of {function_name}:{alias} disappeared")
        report(
            f"{config['Status']} ({config.get('AllocatedProvisionedConcurrentExecutions', 0)}/"
            f"{config['RequestedProvisionedConcurrentExecutions']} allocated)"
        )
        if config["Status"] == "READY":
            return config
        if config["Status"] == "FAILED":
            raise OperationError(
                f"provisioned concurrency on {function_name}:{alias} FAILED: "
                f"{config.get('StatusReason') or 'no reason given'}",
                hint="fix the cause, then re-run; or remove it: mlops concurrency set --clear",
            )
        if time.monotonic() >= deadline:
            raise OperationError(
                f"provisioned concurrency on {function_name}:{alias} is still {config['Status']} "
                f"after {timeout_s:.0f} s",
                hint="check later with: mlops concurrency set --show",
            )
        time.sleep(delay)
        delay = min(delay * 1.5, MAX_POLL_S)
