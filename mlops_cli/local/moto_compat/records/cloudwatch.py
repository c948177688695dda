"""moto's CloudWatch alarms as the local AWS makes and moves them (the target-tracking alarms of the local
autoscaler): a typed view of an alarm and of the backend calls used, checked by
tests/foundation/test_moto_contract.py."""

from __future__ import annotations

from typing import Any, Protocol, cast

from mlops_cli.local.moto_compat.backends import backend


class Alarm(Protocol):
    name: str
    state_value: str


class Alarms(Protocol):
    """moto's CloudWatch backend of an account and region, as far as the local AWS uses it."""

    alarms: dict[str, Alarm]

    def put_metric_alarm(self, **alarm: Any) -> Alarm: ...

    def delete_alarms(self, alarm_names: list[str]) -> None: ...

    def set_alarm_state(self, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None: ...


def alarms(account: str, region: str) -> Alarms:
    return cast("Alarms", backend("cloudwatch", account, region))
