"""Following a `mlops train-ec2` job: its status object in S3 and its instance's state; and the project's
train-ec2 instances by state."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from mlops_cli.aws import error_code
from mlops_cli.plan.sends import sends, sends_via
from mlops_cli.services import naming

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config
    from mlops_cli.services.ec2.job import Ec2Job

ENDED_STATES = ("shutting-down", "terminated", "stopping", "stopped")
LIVE_STATES = ("pending", "running", "stopping", "stopped")  # not terminated: still billed (a stopped one: its volume)


@sends("s3", "GetObject")
def read_status(s3: Any, status_uri: str) -> dict[str, Any] | None:
    """The job's status object, or None while it does not exist yet."""
    from mlops_cli.common.s3_uris import split_s3_uri

    bucket, key = split_s3_uri(status_uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return {"status": "Failed", "reason": f"{status_uri} is not valid JSON"}


@sends("ec2", "DescribeInstances")
def job_instances(ec2: Any, config: Config, states: tuple[str, ...]) -> Iterator[tuple[dict[str, Any], dict]]:
    """(instance, its tags as a dict) of the project's train-ec2 instances (tagged with a job) in one of `states`."""
    filters = [
        {"Name": f"tag:{naming.PROJECT_TAG}", "Values": [config.project]},
        {"Name": "tag-key", "Values": [naming.JOB_TAG]},
        {"Name": "instance-state-name", "Values": list(states)},
    ]
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                yield instance, {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}


def live_instances(ec2: Any, config: Config) -> list[dict[str, Any]]:
    """The project's train-ec2 instances that are not terminated (a stopped one still bills for its volume)."""
    return [
        {
            "instance_id": instance["InstanceId"],
            "job": tags[naming.JOB_TAG],
            "state": instance["State"]["Name"],
            "instance_type": instance.get("InstanceType"),
            "launched": instance.get("LaunchTime"),
        }
        for instance, tags in job_instances(ec2, config, LIVE_STATES)
    ]


@sends("ec2", "DescribeInstances")
def instance_state(ec2: Any, instance_id: str) -> tuple[str, str]:
    """(state name, state reason message); ("pending", "") while EC2 does not list a brand-new instance yet."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except Exception as exc:
        if error_code(exc) == "InvalidInstanceID.NotFound":
            return "pending", ""
        raise
    instance = reservations[0]["Instances"][0]
    return instance["State"]["Name"], instance.get("StateReason", {}).get("Message", "")


@sends_via(read_status, instance_state)
def follow(
    ec2: Any,
    s3: Any,
    job: Ec2Job,
    instance_id: str,
    *,
    poll_s: float,
    on_state: Callable[[str], None] = lambda state: None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Wait for the job's status object; an instance that ended without one is a failure too."""
    last_state = ""
    ended_polls = 0
    while True:
        status = read_status(s3, job.status_uri)
        if status is not None:
            return status
        state, reason = instance_state(ec2, instance_id)
        if state != last_state:
            on_state(state)
            last_state = state
        if state in ENDED_STATES:
            ended_polls += 1
            if ended_polls > 1:  # the status is written before shutdown: one more look, then give up
                detail = f" ({reason})" if reason else ""
                return {
                    "job_name": job.name,
                    "status": "Failed",
                    "model_artifact": None,
                    "log_tail": [],
                    "reason": f"instance {instance_id} is {state}{detail} and the bootstrap recorded no "
                    f"status at {job.status_uri}; see `aws ec2 get-console-output --instance-id "
                    f"{instance_id}`",
                }
        sleep(poll_s)


def stop_hint(instance_id: str) -> str:
    return f"aws ec2 terminate-instances --instance-ids {instance_id}"
