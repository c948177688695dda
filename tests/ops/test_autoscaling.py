"""Local endpoints scale for real: under a load test above the target, target tracking takes the endpoint from
1 to 2 model servers and, once the load falls below 90 % of the target, back to 1, with the activities recorded,
SageMaker's metrics in CloudWatch and no failed request. Runs on a local AWS whose minute lasts a second."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .conftest import FAST_TIME_SCALE

ENDPOINT = "digits-scaling"
RESOURCE = f"endpoint/{ENDPOINT}/variant/AllTraffic"


def test_load_scales_the_endpoint_out_and_back_in(fast_aws, fast_cli, digits_dir: Path, tmp_path: Path):
    mlops, aws = fast_cli
    model = fast_aws[1]
    deployed = mlops("deploy", "--model", model, "--endpoint", ENDPOINT, "--autoscale", "max=2", "--wait")
    assert deployed.exit_code == 0, deployed.output
    assert (
        aws(
            "application-autoscaling",
            "describe-scaling-activities",
            "--service-namespace",
            "sagemaker",
            "--resource-id",
            RESOURCE,
        )["ScalingActivities"]
        == []
    )

    # Target 5 invocations per instance per minute = 5 requests/s on one instance here. The load falls from
    # 10/s to 1/s: above the target for the first half (scale-out after 3 datapoints), then 2 instances share
    # it at under 90 % of the target (scale-in after 15 datapoints) while requests still arrive.
    plot = tmp_path / "scaling.png"
    result = mlops(
        "-o",
        "json",
        "loadtest",
        "--endpoint",
        ENDPOINT,
        "--ramp",
        "10:1",
        "--duration",
        "60",
        "--images",
        str(digits_dir / "test"),
        "--plot",
        str(plot),
    )
    assert result.exit_code == 0, result.output
    load = json.loads(result.stdout)
    assert load["errors"] == {"4xx": 0, "5xx": 0, "throttled": 0, "timeout": 0} and load["dropped"] == 0
    counts = [point["count"] for point in load["instances"]]
    assert counts[0] == 1 and 2 in counts, load["instances"]
    assert plot.read_bytes().startswith(b"\x89PNG")

    deadline = time.monotonic() + 30
    while (
        aws("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)["ProductionVariants"][0][
            "CurrentInstanceCount"
        ]
        != 1
    ):
        assert time.monotonic() < deadline, "the endpoint did not scale back in to 1 instance"
        time.sleep(0.5)
    activities = aws(
        "application-autoscaling",
        "describe-scaling-activities",
        "--service-namespace",
        "sagemaker",
        "--resource-id",
        RESOURCE,
    )["ScalingActivities"]
    assert [a["Description"] for a in activities] == [
        "Setting desired instance count to 1.",
        "Setting desired instance count to 2.",
    ]
    assert all(a["StatusCode"] == "Successful" for a in activities)
    assert f"monitor alarm TargetTracking-{RESOURCE}-AlarmHigh-" in activities[1]["Cause"]
    assert f"monitor alarm TargetTracking-{RESOURCE}-AlarmLow-" in activities[0]["Cause"]
    assert all("in state ALARM triggered policy" in a["Cause"] for a in activities)
    alarms = aws("cloudwatch", "describe-alarms", "--alarm-name-prefix", f"TargetTracking-{RESOURCE}-")["MetricAlarms"]
    assert sorted(a["AlarmName"] in activities[1]["Cause"] + activities[0]["Cause"] for a in alarms) == [True, True]
    # The alarms' period is the local minute, so the statistics at that period are the values they judged: the
    # high alarm's breach shows there (at 60 s, each sum would hold 60 of them).
    high = next(a for a in alarms if "-AlarmHigh-" in a["AlarmName"])
    assert high["Period"] == 60 // FAST_TIME_SCALE
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 600))
    ended = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    statistics = aws(
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "AWS/SageMaker",
        "--metric-name",
        "InvocationsPerInstance",
        "--dimensions",
        f"Name=EndpointName,Value={ENDPOINT}",
        "Name=VariantName,Value=AllTraffic",
        "--statistics",
        "Sum",
        "--period",
        str(high["Period"]),
        "--start-time",
        started,
        "--end-time",
        ended,
    )["Datapoints"]
    sums = [point["Sum"] for point in statistics]
    assert sum(value > high["Threshold"] for value in sums) >= 3 and max(sums) <= 6 * high["Threshold"], sums

    metrics = aws(
        "cloudwatch",
        "list-metrics",
        "--namespace",
        "AWS/SageMaker",
        "--dimensions",
        f"Name=EndpointName,Value={ENDPOINT}",
    )["Metrics"]
    assert {"Invocations", "InvocationsPerInstance", "ModelLatency"} <= {m["MetricName"] for m in metrics}
    assert mlops("teardown", "--endpoint", ENDPOINT, "--yes").exit_code == 0
    assert FAST_TIME_SCALE == 60  # the numbers above assume a one-second local minute
