"""train.ec2.max_run_s is a hard cap: the bootstrap schedules a shutdown at it before anything can hang, and the
local AWS powers the instance off then (SIGTERM to what runs, then terminate), as a real shutdown(8) does. A
local AWS of its own with a fast clock (a local minute lasts 2 s) and a training that would run far longer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import local_aws_server, local_client

TIME_SCALE = 30  # a local minute: 2 s
JOB = "digits-ec2-capped"


@pytest.fixture(scope="module")
def fast_clock_aws(mlops_home: Path) -> Iterator[str]:
    with local_aws_server({"MLOPS_LOCAL__TIME_SCALE": str(TIME_SCALE)}) as url:
        yield url


def test_the_instance_powers_off_at_max_run_s_while_training_runs_on(mlops, fast_clock_aws, tiny_digits):
    env = {"MLOPS_AWS__ENDPOINT_URL": fast_clock_aws}
    assert mlops("-q", "data", "upload", str(tiny_digits), env=env).exit_code == 0
    capped = {**env, "MLOPS_TRAIN__EC2__MAX_RUN_S": "180"}  # 3 minutes: 6 s here
    result = mlops("train-ec2", "--wait", "--job-name", JOB, "--hp", "epochs=10000", env=capped)

    assert result.exit_code == 1, result.output
    assert f"EC2 training job {JOB} failed: " in result.stderr
    assert "the runtime cap was reached (train.ec2.max_run_s: 180 s); the instance shut down" in result.stderr
    assert "Traceback" not in result.output
    s3, ec2 = local_client(fast_clock_aws, "s3"), local_client(fast_clock_aws, "ec2")
    status = json.loads(s3.get_object(Bucket="mlops-local", Key=f"digits/models/{JOB}/status.json")["Body"].read())
    assert (status["status"], status["exit_code"], status["model_artifact"]) == ("Failed", 143, None)

    reservations = ec2.describe_instances(Filters=[{"Name": "tag:mlops:job", "Values": [JOB]}])["Reservations"]
    (instance_id,) = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    # The status is written before the shutdown takes effect: wait for the state, then assert it and its reason.
    waiter = ec2.get_waiter("instance_terminated")
    waiter.wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    (instance,) = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"]
    assert instance["State"]["Name"] == "terminated"  # shut down at the cap, and shutdown means terminate
    assert instance["StateReason"]["Code"] == "Client.InstanceInitiatedShutdown"  # not the API, the instance


def test_a_scheduled_shutdown_is_read_as_the_shim_records_it(tmp_path):
    from mlops_cli.local.ec2.instances import requested_shutdown

    file = tmp_path / "shutdown-requested"
    assert requested_shutdown(file, 60) == (False, None)
    file.write_text(f"{1000} -h +5 mlops: job x reached its runtime cap\n")
    assert requested_shutdown(file, 60) == (False, 1300)
    assert requested_shutdown(file, 2) == (False, 1010)
    file.write_text(f"{1000} -h +5 cap\n{1003} -c\n")
    assert requested_shutdown(file, 60) == (False, None)  # cancelled
    file.write_text(f"\n{1000} -h +5 cap\nnot the shim's\n{int(time.time())} -h now\n")
    assert requested_shutdown(file, 60) == (True, 1300)
