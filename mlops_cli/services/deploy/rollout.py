"""`mlops deploy --rollout … --rollback-on …`: an update under SageMaker's deployment guardrails.

The plan puts the rollback alarms first (PutMetricAlarm, one per `--rollback-on` threshold, on the new fleet's
metrics: rollout_specs.py), then sends UpdateEndpoint with `DeploymentConfig`: the traffic routing, the
termination wait, and `AutoRollbackConfiguration` naming the alarms. SageMaker then shifts traffic step by step;
an alarm in ALARM while a step bakes makes it shift everything back and keep the old configuration (InService
on it, with a FailureReason). `follow_rollout` watches that from DescribeEndpoint (PendingDeploymentSummary's
variant status: Baking, with its start) and DescribeAlarms, and tells the share on the new fleet, the alarm states
and the baking time left. The alarms stay after the update (their history shows what was judged); `teardown`
deletes them with the endpoint, and the next rollout of the endpoint updates them in place (same names).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_cli.config.rollout_specs import (
    ROLLOUT_ALARM_INFIX,
    AlarmSpec,
    SpecError,
    Strategy,
    parse_alarms,
    parse_strategy,
)
from mlops_cli.errors import UsageError
from mlops_cli.plan import Poll, Step
from mlops_cli.plan.sends import sends, sent_by

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

Report = Callable[[str], None]
MAX_EXECUTION_S = 8 * 3600  # MaximumExecutionTimeoutInSeconds' upper bound (botocore's model)
WAIT_TIMEOUT_S = float(MAX_EXECUTION_S)
UPDATE_GRACE_S = 30.0  # a describe right after UpdateEndpoint may still show the old InService state


@dataclass(frozen=True)
class Rollout:
    """The strategy, the alarms (by spec) and the waits of one guarded update."""

    strategy: Strategy
    alarms: tuple[AlarmSpec, ...]
    termination_wait_s: int = 0
    max_execution_s: int | None = None
    time_scale: float = 1.0  # how fast the local AWS's time runs (config local.time_scale); 1 on AWS

    @classmethod
    def from_config(cls, config: Config, is_local: bool) -> Rollout | None:
        """deploy.rollout (the flags already merged in); None when no strategy is set."""
        settings = config.deploy.rollout
        if settings.strategy is None:
            return None
        return cls(
            parse_strategy(settings.strategy),
            tuple(parse_alarms(settings.rollback_on)),
            settings.termination_wait_s,
            settings.max_execution_s,
            config.local.time_scale if is_local else 1.0,
        )

    def check(self, instances: int) -> None:
        """What SageMaker refuses or cuts short, said before anything is sent (exit 2): a step in instances the new
        fleet cannot hold, or bakes that outlast the update's time limit (MaximumExecutionTimeoutInSeconds, at
        most 8 hours), after which SageMaker would give the update up."""
        self.strategy.check_fleet(instances)
        baking = len(self.strategy.shares(instances)) * self.strategy.wait_s + self.termination_wait_s
        limit = self.max_execution_s or MAX_EXECUTION_S
        if baking > limit:
            raise SpecError(
                f"--rollout {self.strategy.spec}: {len(self.strategy.shares(instances))} steps baking "
                f"{self.strategy.wait_s} s each (and {self.termination_wait_s} s of termination wait) outlast the "
                f"{limit} s SageMaker gives an update (deploy.rollout.max_execution_s)"
            )

    @property
    def created_alarms(self) -> list[AlarmSpec]:
        """The thresholds this tool makes alarms for (an existing alarm is only named)."""
        return [alarm for alarm in self.alarms if alarm.existing is None]

    def alarm_names(self, project: str, endpoint: str) -> list[str]:
        return [alarm.alarm_name(project, endpoint) for alarm in self.alarms]

    def deployment_config(self, alarm_names: list[str]) -> dict[str, Any]:
        policy: dict[str, Any] = {
            "TrafficRoutingConfiguration": self.strategy.traffic_routing(),
            "TerminationWaitInSeconds": self.termination_wait_s,
        }
        if self.max_execution_s is not None:
            policy["MaximumExecutionTimeoutInSeconds"] = self.max_execution_s
        config: dict[str, Any] = {"BlueGreenUpdatePolicy": policy}
        if alarm_names:
            config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": name} for name in alarm_names]}
        return config

    def to_dict(self, project: str, endpoint: str) -> dict[str, Any]:
        names = self.alarm_names(project, endpoint)
        return {"strategy": self.strategy.spec, "alarms": names, "deployment_config": self.deployment_config(names)}


def alarm_prefix(project: str) -> str:
    """What every alarm this tool makes for rollouts starts with (IAM scopes the grant to it)."""
    return f"{project}{ROLLOUT_ALARM_INFIX}"


def alarm_steps(
    rollout: Rollout, project: str, endpoint: str, variant: str, config_name: str, tags: list[dict[str, str]]
) -> list[Step]:
    """PutMetricAlarm for each threshold spec (an existing alarm is only named), with the project's tags;
    PutMetricAlarm on an existing name updates it, so the next rollout points the same alarm at its own new
    configuration."""
    return [
        Step(
            "cloudwatch",
            "PutMetricAlarm",
            alarm.put_params(alarm.alarm_name(project, endpoint), endpoint, variant, config_name, tags),
            note=f"rollback alarm: {alarm.spec} on the new fleet",
        )
        for alarm in rollout.created_alarms
    ]


def rollout_wait(
    rollout: Rollout, endpoint: str, config_name: str, alarm_names: list[str], instances: int, max_poll_s: float
) -> Poll:
    """UpdateEndpoint's wait: the rollout followed until the new configuration serves, or rolled back."""
    return Poll(
        lambda client_for, report: follow_rollout(
            client_for("sagemaker"),
            client_for("cloudwatch"),
            endpoint,
            config_name,
            rollout,
            alarm_names,
            instances,
            report,
            max_poll_s=max_poll_s,
        ),
        f"the {rollout.strategy.spec} rollout of {config_name} on endpoint {endpoint}",
        sends=sent_by(follow_rollout),
    )


@sends("cloudwatch", "DescribeAlarms")
def alarm_states(cw: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    """name -> the alarm's description (StateValue, StateReason, ...), for the named alarms that exist."""
    if not names:
        return {}
    found = cw.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    return {alarm["AlarmName"]: alarm for alarm in [*found["MetricAlarms"], *found["CompositeAlarms"]]}


@sends("cloudwatch", "DescribeAlarms", "ListTagsForResource")
def check_named_alarms(cw: Any, rollout: Rollout, project: str) -> None:
    """Before anything is sent: every alarm `--rollback-on` names must exist (else UpdateEndpoint is refused after
    the model and configuration were made) and must not be another project's (its teardown would delete it, and
    its thresholds judge that project's fleet)."""
    from mlops_cli.services.naming import PROJECT_TAG

    names = [alarm.existing for alarm in rollout.alarms if alarm.existing]
    if not names:
        return
    found = alarm_states(cw, names)
    missing = [name for name in names if name not in found]
    if missing:
        raise UsageError(
            f"--rollback-on {missing[0]}: no CloudWatch alarm of that name in this account and region",
            hint="create it first, or give a threshold such as p99>800ms or 5xx>1% (the tool then makes the alarm)",
        )
    from botocore.exceptions import ClientError

    for name in names:
        try:
            tags = cw.list_tags_for_resource(ResourceARN=found[name]["AlarmArn"])["Tags"]
        except ClientError:  # tags the caller may not read (a grant scoped to the project's alarms): no owner known
            continue
        owner = next((tag["Value"] for tag in tags if tag["Key"] == PROJECT_TAG), project)
        if owner != project:
            raise UsageError(f"--rollback-on {name}: the alarm belongs to project '{owner}' (tag {PROJECT_TAG})")


@sends("sagemaker", "DescribeEndpoint")
@sends("cloudwatch", "DescribeAlarms")
def follow_rollout(
    sm: Any,
    cw: Any,
    endpoint: str,
    config_name: str,
    rollout: Rollout,
    alarm_names: list[str],
    instances: int,
    report: Report | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_poll_s: float = 15.0,
) -> dict[str, Any]:
    """Poll until the endpoint serves `config_name` (its description) or SageMaker rolled back (EndpointFailed
    naming the alarm that fired), telling each step's traffic share, the alarm states and the baking time left."""
    from mlops_cli.errors import OperationError
    from mlops_cli.services.deploy.endpoint_states import TRANSITIONAL, EndpointFailed

    shares = rollout.strategy.shares(instances)
    bakes: list[Any] = []  # the start of each baking period seen: one per traffic step
    fired: dict[str, Any] | None = None
    seen_update = False
    start = clock()
    delay = 0.5
    while True:
        described = sm.describe_endpoint(EndpointName=endpoint)
        states = alarm_states(cw, alarm_names)
        fired = fired or next((a for a in states.values() if a.get("StateValue") == "ALARM"), None)
        status = described["EndpointStatus"]
        if status in TRANSITIONAL:
            seen_update = True
            if report:
                report(_progress(described, rollout, shares, bakes, states))
        elif status in ("Failed", "UpdateRollbackFailed"):
            raise EndpointFailed(described.get("FailureReason") or status, described)
        elif status == "InService":
            if described.get("EndpointConfigName") == config_name:
                return described
            if seen_update or clock() - start > UPDATE_GRACE_S:
                raise EndpointFailed(_rollback_reason(described, fired), described)
        if clock() - start > WAIT_TIMEOUT_S:
            raise OperationError(
                f"endpoint '{endpoint}' is still {status} after {WAIT_TIMEOUT_S:.0f} s; the rollout goes on in AWS",
                hint="watch it with `mlops status`",
            )
        sleep(delay)
        delay = min(delay * 1.5, max_poll_s)


def _progress(
    described: dict[str, Any],
    rollout: Rollout,
    shares: list[float],
    bakes: list[Any],
    states: dict[str, dict[str, Any]],
) -> str:
    """One line: the step, the new fleet's share of the traffic, the baking time left, the alarm states."""
    variants = (described.get("PendingDeploymentSummary") or {}).get("ProductionVariants") or []
    statuses = [item for variant in variants for item in variant.get("VariantStatus") or []]
    alarms = ", ".join(f"{name} {alarm.get('StateValue', '?')}" for name, alarm in states.items()) or "none"
    current = statuses[-1] if statuses else None
    if current is None:
        return f"{described['EndpointStatus']}; alarms: {alarms}"
    if current.get("Status") != "Baking":
        message = current.get("StatusMessage") or current.get("Status", "")
        return f"{described['EndpointStatus']}: {message}; alarms: {alarms}"
    started = current.get("StartTime")
    if started not in bakes:
        bakes.append(started)
    step = min(len(bakes), len(shares))
    left = rollout.strategy.wait_s
    if isinstance(started, datetime):
        elapsed = (datetime.now(UTC) - started.astimezone(UTC)).total_seconds() * rollout.time_scale
        left = max(0, round(rollout.strategy.wait_s - elapsed))
    return (
        f"{rollout.strategy.kind.lower()} step {step}/{len(shares)}: {shares[step - 1]:.0%} of the traffic on the "
        f"new fleet, baking {left} s left; alarms: {alarms}"
    )


def _rollback_reason(described: dict[str, Any], fired: dict[str, Any] | None) -> str:
    reason = described.get("FailureReason") or "the update did not complete"
    if fired is None:
        return f"rolled back: {reason}"
    return f"rolled back automatically: alarm {fired['AlarmName']} went to ALARM ({fired.get('StateReason', '')})"
