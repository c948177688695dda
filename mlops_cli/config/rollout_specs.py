"""`--rollout` and `--rollback-on` as SageMaker deployment guardrails ask for them: the strategy becomes
UpdateEndpoint's `DeploymentConfig.BlueGreenUpdatePolicy.TrafficRoutingConfiguration`, each alarm spec a
CloudWatch alarm (PutMetricAlarm) named in `AutoRollbackConfiguration`.

Strategies: `canary:10%:5m` (10 % of the new fleet's capacity takes traffic, bakes 5 minutes, then all of it),
`linear:25%:2m` (25 % more every 2 minutes), `all-at-once[:5m]` (all of it, then bakes). A size without `%` is an
instance count. AWS's limits (API Reference, TrafficRoutingConfig; Developer Guide, "Use canary / linear traffic
shifting"): wait intervals 0 to 3600 s; a canary at most half the new fleet, a linear step 10 % to 50 %.

Alarm specs: `p99>800ms` (ModelLatency's 99th percentile), `latency>300ms` (its average), `5xx>1%` (the share of
invocations answered 5xx: Invocation5XXErrors' average, since SageMaker counts 0 or 1 per invocation), `5xx>3` or
`errors>3` (their count in a period), `4xx>…` alike; `>=` for greater-or-equal. Anything else is the name of an
existing alarm. The alarms watch the new fleet only (the dimension EndpointConfigName, the Developer Guide's
"monitor model latency on the new fleet"), one-minute periods, a missing datapoint is not a breach.
Parsing only: no AWS, no heavy imports (the config schema checks `deploy.rollout` with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mlops_cli.errors import UsageError


class SpecError(UsageError, ValueError):
    """A bad spec: exit 2 as a flag, a config error (naming the key or flag) through the schema."""


MAX_WAIT_S = 3600  # WaitIntervalInSeconds and TerminationWaitInSeconds
MAX_ALARMS = 10  # AutoRollbackConfig.Alarms
ALARM_PERIOD_S = 60
ALARM_NAME_MAX = 255
ROLLOUT_ALARM_INFIX = "-rollout-"  # alarm names: <project>-rollout-<endpoint>-<what>; IAM scopes to the prefix
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
_STRATEGY = re.compile(r"^(canary|linear):(\d{1,4})(%?):(\d{1,5})([smh]?)$|^all-at-once(?::(\d{1,5})([smh]?))?$")
_ALARM = re.compile(r"^(p\d{1,2}(?:\.\d)?|latency|5xx|4xx|errors)\s*(>=?)\s*(\d+(?:\.\d+)?)\s*(ms|s|%)?$")
_LATENCY_UNITS_US = {"ms": 1_000, "s": 1_000_000}
_ERROR_METRICS = {"5xx": "Invocation5XXErrors", "errors": "Invocation5XXErrors", "4xx": "Invocation4XXErrors"}
_OPERATORS = {">": "GreaterThanThreshold", ">=": "GreaterThanOrEqualToThreshold"}
_STRATEGY_HELP = "canary:10%:5m, linear:25%:2m or all-at-once[:5m]"
_ALARM_HELP = "p99>800ms, latency>300ms, 5xx>1%, errors>5, or an existing alarm's name"


@dataclass(frozen=True)
class Strategy:
    """A traffic-shifting strategy: CANARY, LINEAR or ALL_AT_ONCE, the step size and the bake between steps."""

    kind: str
    wait_s: int
    size: int | None = None
    percent: bool = True  # size is CAPACITY_PERCENT (else INSTANCE_COUNT)

    def traffic_routing(self) -> dict[str, Any]:
        routing: dict[str, Any] = {"Type": self.kind, "WaitIntervalInSeconds": self.wait_s}
        if self.size is not None:
            member = "CanarySize" if self.kind == "CANARY" else "LinearStepSize"
            routing[member] = {"Type": "CAPACITY_PERCENT" if self.percent else "INSTANCE_COUNT", "Value": self.size}
        return routing

    def shares(self, instances: int) -> list[float]:
        """The new fleet's share of the traffic at each step, for a fleet of `instances`."""
        if self.size is None:
            return [1.0]
        step = self.size / 100 if self.percent else self.size / max(instances, 1)
        if self.kind == "CANARY":
            return [min(step, 1.0), 1.0]
        shares = []
        share = step
        while share < 1.0 - 1e-9:
            shares.append(round(share, 6))
            share += step
        return [*shares, 1.0]

    def check_fleet(self, instances: int) -> None:
        """A size in instances against the new fleet (API Reference, TrafficRoutingConfig): a canary at most half
        of it, a linear step 10 % to 50 % of it."""
        if self.size is None or self.percent:
            return
        share = self.size / max(instances, 1)
        if share > 0.5 or (self.kind == "LINEAR" and share < 0.1):
            allowed = "at most half" if self.kind == "CANARY" else "10% to 50%"
            raise SpecError(
                f"'{self.spec}': a {self.kind.lower()} step of {self.size} instance(s) on a fleet of {instances}; "
                f"SageMaker takes {allowed} of the new fleet's instances"
            )

    @property
    def spec(self) -> str:
        if self.size is None:
            return f"all-at-once:{self.wait_s}s"
        return f"{self.kind.lower()}:{self.size}{'%' if self.percent else ''}:{self.wait_s}s"


def parse_strategy(spec: str) -> Strategy:
    text = spec.strip().lower()
    match = _STRATEGY.match(text)
    if not match:
        raise SpecError(f"'{spec}' is not one of {_STRATEGY_HELP}")
    kind, size, percent, wait, unit, bake, bake_unit = match.groups()
    if kind is None:
        strategy = Strategy("ALL_AT_ONCE", _seconds(bake or "0", bake_unit or "", spec))
    else:
        strategy = Strategy(kind.upper(), _seconds(wait, unit, spec), int(size), bool(percent))
        if strategy.percent:
            low, high = (1, 50) if kind == "canary" else (10, 50)
            if not low <= strategy.size <= high:  # type: ignore[operator]
                raise SpecError(f"'{spec}': a {kind} step is {low}% to {high}% of the new fleet")
        elif strategy.size == 0:
            raise SpecError(f"'{spec}': a {kind} step needs at least one instance")
    return strategy


def _seconds(number: str, unit: str, spec: str) -> int:
    seconds = int(number) * _UNITS[unit]
    if seconds > MAX_WAIT_S:
        raise SpecError(f"'{spec}': the wait is {seconds} s; SageMaker allows 0 to {MAX_WAIT_S} s")
    return seconds


@dataclass(frozen=True)
class AlarmSpec:
    """One `--rollback-on`: a threshold on one of the new fleet's metrics, or (`existing`) an alarm's name."""

    spec: str
    existing: str | None = None
    metric: str = ""
    statistic: str = ""  # Average, Sum, or a percentile such as p99 (ExtendedStatistic)
    operator: str = ""
    threshold: float = 0.0
    unit: str | None = None
    slug: str = ""  # the alarm name's last part

    def alarm_name(self, project: str, endpoint: str) -> str:
        if self.existing:
            return self.existing
        return f"{project}{ROLLOUT_ALARM_INFIX}{endpoint}-{self.slug}"[:ALARM_NAME_MAX]

    def put_params(
        self, name: str, endpoint: str, variant: str, config_name: str, tags: list[dict[str, str]]
    ) -> dict[str, Any]:
        """PutMetricAlarm on the new fleet's metric (dimensions EndpointName, VariantName, EndpointConfigName),
        tagged on creation (`teardown` finds the project's alarms by these tags; AWS ignores Tags on an update)."""
        params: dict[str, Any] = {
            "AlarmName": name,
            "AlarmDescription": f"mlops deploy --rollback-on {self.spec}: rolls back endpoint {endpoint}",
            "Namespace": "AWS/SageMaker",
            "MetricName": self.metric,
            "Dimensions": [
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": variant},
                {"Name": "EndpointConfigName", "Value": config_name},
            ],
            "Period": ALARM_PERIOD_S,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "Threshold": self.threshold,
            "ComparisonOperator": self.operator,
            "TreatMissingData": "notBreaching",
            "Tags": tags,
        }
        if self.statistic.startswith("p"):
            params["ExtendedStatistic"] = self.statistic
        else:
            params["Statistic"] = self.statistic
        if self.unit:
            params["Unit"] = self.unit
        return params


def parse_alarm(spec: str) -> AlarmSpec:
    text = spec.strip()
    match = _ALARM.match(text.lower())
    if not match:
        if any(char in text for char in "<>=%") or not text or len(text) > ALARM_NAME_MAX or not text.isprintable():
            raise SpecError(f"'{spec}' is not one of {_ALARM_HELP}")
        return AlarmSpec(spec=text, existing=text)
    subject, operator, number, unit = match.groups()
    value = float(number)
    comparison = _OPERATORS[operator]
    relation = "ge" if operator == ">=" else "gt"
    if subject.startswith("p") or subject == "latency":
        if unit not in _LATENCY_UNITS_US:
            raise SpecError(f"'{spec}': a latency needs ms or s, e.g. p99>800ms")
        if subject.startswith("p") and not 0 < float(subject[1:]) < 100:
            raise SpecError(f"'{spec}': a percentile is p1 to p99.9")
        statistic = subject if subject.startswith("p") else "Average"
        name = subject.replace(".", "_") if subject.startswith("p") else "avg"
        return AlarmSpec(
            text,
            metric="ModelLatency",
            statistic=statistic,
            operator=comparison,
            threshold=value * _LATENCY_UNITS_US[unit],
            unit="Microseconds",
            slug=f"{name}-latency-{relation}-{number.replace('.', '_')}{unit}",
        )
    if unit in _LATENCY_UNITS_US:
        raise SpecError(f"'{spec}': errors are a count (errors>5) or a share (5xx>1%)")
    metric = _ERROR_METRICS[subject]
    kind = "4xx" if subject == "4xx" else "5xx"
    if unit == "%":
        if value > 100:
            raise SpecError(f"'{spec}': a share is at most 100%")
        return AlarmSpec(
            text,
            metric=metric,
            statistic="Average",
            operator=comparison,
            threshold=value / 100,
            slug=f"{kind}-rate-{relation}-{number.replace('.', '_')}pct",
        )
    return AlarmSpec(
        text,
        metric=metric,
        statistic="Sum",
        operator=comparison,
        threshold=value,
        slug=f"{kind}-count-{relation}-{number.replace('.', '_')}",
    )


def parse_alarms(specs: list[str]) -> list[AlarmSpec]:
    alarms = [parse_alarm(spec) for spec in specs]
    if len(alarms) > MAX_ALARMS:
        raise SpecError(f"{len(alarms)} alarms; SageMaker takes at most {MAX_ALARMS}")
    seen: set[str] = set()
    for alarm in alarms:
        key = alarm.existing or alarm.slug
        if key in seen:
            raise SpecError(f"'{alarm.spec}' is given twice")
        seen.add(key)
    return alarms
