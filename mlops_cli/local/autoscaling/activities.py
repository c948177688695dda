"""Scaling activities (DescribeScalingActivities), which moto does not keep: each scaling the local autoscaler
makes is recorded with AWS's wording, through the local AWS's journal so that it survives a restart."""

from __future__ import annotations

from typing import Any

from mlops_cli.local.core.server import ServerContext

MAX_ACTIVITIES = 1000  # per account and region; AWS keeps six weeks of them
ACTIVITY_CHANGE = "autoscaling.activity"  # the local AWS's journal replays activity records by this name


def record(context: ServerContext, account: str, region: str, activity: dict[str, Any]) -> None:
    """The activity as it is now, through the local AWS's journal (DescribeScalingActivities after a restart)."""
    context.store.call(ACTIVITY_CHANGE, {"account": account, "region": region, "activity": dict(activity)})


def record_activity(data: dict[str, Any]) -> None:
    """The named change: `data["activity"]` into its account and region's activities, in place of an older record
    of the same activity (ActivityId), the oldest dropped past MAX_ACTIVITIES."""
    from mlops_cli.local.moto_compat.records import autoscaling as scaling_records

    history = scaling_records.activity_log(data["account"], data["region"])
    activity = dict(data["activity"])
    for index, kept in enumerate(history):
        if kept["ActivityId"] == activity["ActivityId"]:
            history[index] = activity
            return
    history.append(activity)
    del history[:-MAX_ACTIVITIES]
