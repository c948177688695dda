"""The CloudWatch alarms of a target-tracking policy on a SageMaker variant, as Application Auto Scaling makes them.

AWS creates two alarms per target-tracking policy and deletes them with it ("Do not edit or delete the CloudWatch
alarms that are configured for the target tracking scaling policy", Application Auto Scaling User Guide): a high
alarm (metric above the target for 3 of 3 one-minute periods: scale out) and a low alarm (below 90 % of the target
for 15 of 15: scale in). moto makes them for DynamoDB and ECS only; here they exist for SageMaker variants too,
so `describe-scaling-policies` lists them and `describe-alarms` shows their state, which the local autoscaler
sets as it evaluates each period. Their period is the local minute (60 s / time scale, whole seconds), the
interval the autoscaler closes a datapoint at: `get-metric-statistics` with the alarm's period shows the values
the alarm judged, where a 60 s period would sum time_scale of them.
"""

from __future__ import annotations

from typing import Any

from mlops_cli.local.core.clock import time_scale
from mlops_cli.local.moto_compat.records import autoscaling as scaling_records
from mlops_cli.local.moto_compat.records import cloudwatch

NAMESPACE = "AWS/SageMaker"
METRIC = "InvocationsPerInstance"
HIGH_PERIODS = 3
LOW_PERIODS = 15
LOW_FRACTION = 0.9


PERIOD_S = 60  # the predefined metric's period: one (local) minute
CHANGE = "autoscaling.alarms"  # the local AWS's journal replays alarm changes by this name (store.register)


def period_s() -> int:
    """The alarms' period: one local minute, in whole seconds."""
    return max(1, round(PERIOD_S / time_scale()))


def apply(data: dict[str, Any]) -> None:
    """The named change: drop the target-tracking alarms of `data["resource"]` and, when `data["target"]` is a
    number, create the high and low alarm of its policy `data["policy"]`. Ids come from moto's seeded random, so
    the journal's replay gives the same names."""
    from mlops_cli.local import moto_compat

    account, region, resource = data["account"], data["region"], data["resource"]
    alarms = cloudwatch.alarms(account, region)
    prefix = f"TargetTracking-{resource}-Alarm"
    alarms.delete_alarms([name for name in list(alarms.alarms) if name.startswith(prefix)])
    policy = next(
        (
            p
            for p in scaling_records.policies(account, region).values()
            if p.service_namespace == "sagemaker" and p.resource_id == resource and p.policy_name == data["policy"]
        ),
        None,
    )
    if policy is None:
        return
    policy.alarms = []
    if data.get("target") is None:
        return
    target_value = float(data["target"])
    endpoint, variant = resource.split("/")[1], resource.split("/")[3]
    for kind, operator, periods, threshold in (
        ("High", "GreaterThanThreshold", HIGH_PERIODS, target_value),
        ("Low", "LessThanThreshold", LOW_PERIODS, LOW_FRACTION * target_value),
    ):
        alarm = alarms.put_metric_alarm(
            name=f"{prefix}{kind}-{moto_compat.random().uuid4()}",
            namespace=NAMESPACE,
            metric_name=METRIC,
            comparison_operator=operator,
            evaluation_periods=periods,
            datapoints_to_alarm=periods,
            period=period_s(),
            threshold=threshold,
            statistic="Sum",
            description=f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy.policy_arn}.",
            dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
            alarm_actions=[policy.policy_arn],
        )
        policy.alarms.append(alarm)
        # A new alarm has no data yet (moto starts it at OK).
        alarms.set_alarm_state(alarm.name, "Unchecked: Initial alarm creation", "{}", "INSUFFICIENT_DATA")


def name(policy: scaling_records.ScalingPolicy, kind: str) -> str:
    """The policy's High or Low alarm name (the name AWS would give when the alarm is missing)."""
    found = [alarm.name for alarm in scaling_records.policy_alarms(policy) if f"-Alarm{kind}-" in alarm.name]
    return found[0] if found else f"TargetTracking-{policy.resource_id}-Alarm{kind}"


def set_state(policy: scaling_records.ScalingPolicy, kind: str, state: str, reason: str) -> None:
    """Move the alarm to ALARM, OK or INSUFFICIENT_DATA (only when it changes, so its history stays readable)."""
    alarm = next((a for a in scaling_records.policy_alarms(policy) if f"-Alarm{kind}-" in a.name), None)
    if alarm is not None and alarm.state_value != state:
        cloudwatch.alarms(policy.account_id, policy.region_name).set_alarm_state(alarm.name, reason, "{}", state)


def show_evaluation(policy: scaling_records.ScalingPolicy, points: list[float | None], high: bool, low: bool) -> None:
    """The policy's alarms follow the autoscaler's evaluation: ALARM, OK, or INSUFFICIENT_DATA without data."""
    last = points[-1] if points else None
    for kind, breaching in (("High", high), ("Low", low)):
        state = "ALARM" if breaching else "INSUFFICIENT_DATA" if last is None else "OK"
        set_state(policy, kind, state, f"Threshold {'crossed' if breaching else 'not crossed'}: last datapoint {last}")
