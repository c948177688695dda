"""A CloudWatch metric alarm judged on the datapoints in the local AWS's CloudWatch, as CloudWatch judges it.

moto stores alarms and metric data but never evaluates an alarm: its state stays where PutMetricAlarm or
SetAlarmState left it. Here an alarm is evaluated the way the CloudWatch User Guide ("Evaluating an alarm")
describes: the last EvaluationPeriods periods of the alarm's metric (namespace, name and exactly its
dimensions), each period's statistic (Average, Sum, SampleCount, Minimum, Maximum, or a percentile pNN from the
individual values), compared with the threshold; DatapointsToAlarm breaching periods put it in ALARM. A period
without data counts as TreatMissingData says (missing: it is skipped; notBreaching/ignore: not a breach;
breaching: a breach). No datapoint at all and `missing`: INSUFFICIENT_DATA.

Periods are local: a 60 s period lasts 60 / time scale real seconds (mlops_cli.local.autoscaling.autoscaler's
time scale), the interval the local AWS publishes SageMaker's metrics at.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from mlops_cli.local.moto_compat.records import cloudwatch as records

_COMPARE = {
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _statistic(values: list[float], statistic: str) -> float:
    if statistic.startswith("p"):  # nearest-rank percentile of the period's values
        rank = math.ceil(float(statistic[1:]) / 100 * len(values))
        return sorted(values)[max(rank, 1) - 1]
    return {
        "Average": lambda: sum(values) / len(values),
        "Sum": lambda: sum(values),
        "SampleCount": lambda: float(len(values)),
        "Minimum": lambda: min(values),
        "Maximum": lambda: max(values),
    }[statistic]()


def _values(cloudwatch: Any, alarm: Any, since: datetime) -> list[tuple[datetime, float]]:
    """(timestamp, value) of every datum of the alarm's metric since `since`, dimensions matched exactly."""
    wanted = {(d.name, d.value) for d in alarm.dimensions}
    found = []
    for datum in cloudwatch.metric_data:
        if datum.namespace != alarm.namespace or datum.name != alarm.metric_name or not hasattr(datum, "value"):
            continue
        if {(d.name, d.value) for d in datum.dimensions} != wanted:
            continue
        moment = _aware(datum.timestamp)
        if moment >= since:
            found.append((moment, float(datum.value)))
    return found


def evaluate(account: str, region: str, name: str, time_scale: float, now: datetime | None = None) -> str | None:
    """Judge metric alarm `name` on its latest periods and move it to ALARM, OK or INSUFFICIENT_DATA (only on a
    change, so its history stays readable); its state, or None when there is no such alarm (or it is a metric
    math alarm, which the local AWS does not evaluate)."""
    cloudwatch = records.metric_alarms(account, region)
    alarm = cloudwatch.alarms.get(name)
    if alarm is None or alarm.metric_data_queries or not alarm.metric_name:
        return None if alarm is None else alarm.state_value
    now = now or datetime.now(UTC)
    period = timedelta(seconds=float(alarm.period) / time_scale)
    periods = int(alarm.evaluation_periods)
    since = now - periods * period
    buckets: list[list[float]] = [[] for _ in range(periods)]
    for moment, value in _values(cloudwatch, alarm, since):
        index = min(int((moment - since) / period), periods - 1)
        buckets[index].append(value)
    statistic = alarm.extended_statistic or alarm.statistic or "Average"
    compare = _COMPARE.get(alarm.comparison_operator)
    missing = alarm.treat_missing_data or "missing"
    points = [_statistic(values, statistic) if values else None for values in buckets]
    breaching = sum(
        1
        for point in points
        if (point is not None and compare is not None and compare(point, float(alarm.threshold)))
        or (point is None and missing == "breaching")
    )
    needed = int(alarm.datapoints_to_alarm or periods)
    shown = [round(point, 3) for point in points if point is not None]
    if breaching >= needed:
        state = "ALARM"
    elif not shown and missing == "missing":
        state = "INSUFFICIENT_DATA"
    else:
        state = "OK"
    if state != alarm.state_value:
        crossed = "crossed" if state == "ALARM" else "not crossed"
        reason = (
            f"Threshold {crossed}: {breaching} out of the last {periods} datapoints "
            f"{shown} {'was' if breaching == 1 else 'were'} {_relation(alarm.comparison_operator)} the threshold "
            f"({float(alarm.threshold):g})."
        )
        data = {"version": "1.0", "queryDate": now.isoformat(), "statistic": statistic, "recentDatapoints": shown}
        cloudwatch.set_alarm_state(name, reason, json.dumps(data), state)
    return state


def _relation(operator: str) -> str:
    return {
        "GreaterThanThreshold": "greater than",
        "GreaterThanOrEqualToThreshold": "greater than or equal to",
        "LessThanThreshold": "less than",
        "LessThanOrEqualToThreshold": "less than or equal to",
    }.get(operator, operator)
