"""moto's CloudWatch alarms as the local AWS makes and moves them (the target-tracking alarms of the local
autoscaler): a typed view of an alarm and of the backend calls used, checked by
tests/foundation/test_moto_contract.py."""

from __future__ import annotations

from typing import Any, Protocol, cast

from mlops_cli.local.moto_compat.backends import backend


class Alarm(Protocol):
    name: str
    state_value: str


class MetricAlarm(Alarm, Protocol):
    """An alarm as the local AWS judges it (mlops_cli.local.cloudwatch.alarm_evaluation)."""

    namespace: str
    metric_name: str | None
    metric_data_queries: Any
    dimensions: list[Any]  # each with .name and .value
    period: Any
    evaluation_periods: Any
    datapoints_to_alarm: Any
    statistic: str | None
    extended_statistic: str | None
    comparison_operator: str
    threshold: Any
    treat_missing_data: str | None


class Alarms(Protocol):
    """moto's CloudWatch backend of an account and region, as far as the local AWS uses it."""

    alarms: dict[str, Alarm]

    def put_metric_alarm(self, **alarm: Any) -> Alarm: ...

    def delete_alarms(self, alarm_names: list[str]) -> None: ...

    def set_alarm_state(self, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None: ...


class MetricAlarms(Protocol):
    """The backend as alarm evaluation reads it: the alarms and every datum put (each with .namespace, .name,
    .dimensions, .timestamp and, for a single value, .value)."""

    alarms: dict[str, MetricAlarm]
    metric_data: list[Any]

    def set_alarm_state(self, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None: ...


def alarms(account: str, region: str) -> Alarms:
    return cast("Alarms", backend("cloudwatch", account, region))


def metric_alarms(account: str, region: str) -> MetricAlarms:
    return cast("MetricAlarms", backend("cloudwatch", account, region))
