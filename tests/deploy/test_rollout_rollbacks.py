"""Rollouts that must not end with a bad model serving, on a local AWS of its own (a minute lasts a second):

- a crash of the local AWS mid-rollout (SIGKILL while the canary bakes, then `mlops local up` on the same state)
  ends as a host failure ends on AWS: the old configuration serves again, the new fleet starts again and the
  rollout goes on from its first step under the same alarms. A good model then completes; a model that answers
  5xx is rolled back by its alarm. Never a half state; `status` and `deploy` tell the truth meanwhile;
- a model that answers too slowly (its handler sleeps 1.5 s per prediction, measured by the real model server)
  is rolled back by `--rollback-on p99>800ms` while the old model answers the rest of the traffic;
- `teardown` then deletes every alarm the rollouts made (by their tags), not the user's own alarm it was given.

The models are handlers only (no weights): each answers with its own label, slowly, or fails, so which fleet
answered is plain and no training is needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from mlops_cli.local.core import credentials
from tests.deploy.conftest import _tar, cli
from tests.deploy.test_rollout_local import FAILING_HANDLER
from tests.helpers import LOCAL_CONFIG, aws_cli, local_aws_server, local_client, put_alarm, wait_for
from tests.ops.conftest import FAST_TIME_SCALE

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # starts (and kills) its own local AWS

ENDPOINT = "digits-restarted"
BUCKET = "mlops-local"
MODELS = f"s3://{BUCKET}/digits/models/restart-tests"
CANARY = "canary:10%:20m"  # 20 s of baking at a minute a second: time to stop the follow and kill mid-step
ALARM = f"digits-rollout-{ENDPOINT}-5xx-rate-gt-1pct"
LATENCY_ALARM = f"digits-rollout-{ENDPOINT}-p99-latency-gt-800ms"
THEIRS = f"digits-rollout-{ENDPOINT}-handmade"  # the user's own alarm, named like the tool's but untagged
SLOW_S = 1.5  # what the slow model's handler takes per prediction (its p99 then exceeds 800 ms)


class Restartable:
    """The local AWS at `url`, killed and started again on the same state folder."""

    def __init__(self, url: str):
        self.url = url
        self.env = {**os.environ, "MLOPS_LOCAL__TIME_SCALE": str(FAST_TIME_SCALE), "MLOPS_AWS__ENDPOINT_URL": url}

    def kill(self) -> None:
        pid_file = credentials.path(self.url).with_name("server.pid")
        os.kill(json.loads(pid_file.read_text())["pid"], signal.SIGKILL)

    def up(self) -> None:
        command = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "local", "up"]
        started = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=90)
        assert started.returncode == 0, started.stderr

    def mlops(self, *args: str):
        return cli(*args, env={"MLOPS_AWS__ENDPOINT_URL": self.url})

    def deploy_in_background(self, *args: str) -> subprocess.Popen:
        """`mlops deploy ...` as its own process, its messages kept."""
        command = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "deploy", *args]
        return subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def describe(self) -> dict[str, Any]:
        return aws_cli(self.url, "sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)


def labelling(label: str, delay_s: float = 0.0) -> bytes:
    """A model whose handler answers every request with `label` (after `delay_s` seconds of each prediction), in
    the shape of the real handler's answer."""
    handler = f"""
import json
import time

def model_fn(model_dir):
    return "{label}"

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    time.sleep({delay_s})
    return model

def output_fn(prediction, accept):
    return json.dumps({{"predictions": [{{"top_k": [{{"label": prediction}}]}}]}}), "application/json"
"""
    return _tar({"code/inference.py": handler.encode()})


@pytest.fixture(scope="module")
def restartable(mlops_home) -> Iterator[tuple[Restartable, dict[str, str]]]:
    """The local AWS and the S3 URIs of the models in it: one answering "zero", one answering "v2-zero" (the new
    model) and one that answers every request with a 500."""
    from mlops_cli.services.iam.policies import assume_role_policy

    with local_aws_server({"MLOPS_LOCAL__TIME_SCALE": str(FAST_TIME_SCALE)}) as url:
        s3 = local_client(url, "s3")
        s3.create_bucket(Bucket=BUCKET)
        uris = {}
        for name, body in (
            ("trained", labelling("zero")),
            ("relabelled", labelling("v2-zero")),
            ("slow", labelling("slow", delay_s=SLOW_S)),
            ("failing", _tar({"code/inference.py": FAILING_HANDLER.encode()})),
        ):
            uris[name] = f"{MODELS}/{name}/model.tar.gz"
            s3.put_object(Bucket=BUCKET, Key=uris[name][len(f"s3://{BUCKET}/") :], Body=body)
        local_client(url, "iam").create_role(
            RoleName="digits-sagemaker-execution",
            AssumeRolePolicyDocument=json.dumps(assume_role_policy("sagemaker.amazonaws.com")),
        )
        yield Restartable(url), uris


DIGIT = b"an image: the handlers here do not read it"


def baking(aws: Restartable) -> bool:
    variants = (aws.describe().get("PendingDeploymentSummary") or {}).get("ProductionVariants") or []
    return any(status["Status"] == "Baking" for variant in variants for status in variant.get("VariantStatus") or [])


def settled(aws: Restartable) -> dict[str, Any]:
    """The endpoint's description once the update has ended (InService, or Failed)."""

    def ended() -> dict[str, Any] | None:
        described = aws.describe()
        return described if described["EndpointStatus"] in ("InService", "Failed") else None

    return wait_for(ended, f"the update of {ENDPOINT} to end", timeout=180)


def label(url: str, body: bytes) -> str:
    answer = local_client(url, "sagemaker-runtime").invoke_endpoint(
        EndpointName=ENDPOINT, Body=body, ContentType="image/png"
    )
    return json.loads(answer["Body"].read())["predictions"][0]["top_k"][0]["label"]


def crash_mid_rollout(aws: Restartable, model: str) -> dict[str, Any]:
    """Start a guarded rollout of `model`; while the canary bakes, Ctrl-C the deploy (it stops following and says
    that the rollout goes on), kill the server, start it again. The endpoint's description from before the crash."""
    rollout = aws.deploy_in_background(
        "--model", model, "--endpoint", ENDPOINT, "--rollout", CANARY, "--rollback-on", "5xx>1%"
    )
    try:
        wait_for(lambda: baking(aws), "the canary to bake", timeout=180)
        rollout.send_signal(signal.SIGINT)
        _out, said = rollout.communicate(timeout=60)
        assert rollout.returncode == 130, said
        assert f"the endpoint's {CANARY.replace('20m', '1200s')} rollout of" in " ".join(said.split()), said
        assert "continues in AWS" in said and "Traceback" not in said
        before = aws.describe()
        assert before["EndpointStatus"] == "Updating", before  # Ctrl-C stopped the follow, not the rollout
        aws.kill()
    finally:
        if rollout.poll() is None:
            rollout.kill()
            rollout.wait()
    aws.up()
    return before


def test_a_rollout_cut_by_a_crash_goes_on_to_completion(restartable):
    aws, models = restartable
    created = aws.mlops("deploy", "--model", models["trained"], "--endpoint", ENDPOINT)
    assert created.exit_code == 0, created.output
    old_config = aws.describe()["EndpointConfigName"]

    before = crash_mid_rollout(aws, models["relabelled"])
    new_config = before["PendingDeploymentSummary"]["EndpointConfigName"]
    assert new_config != old_config

    # Right after the restart: still the same update, on the old configuration, which answers.
    restarted = aws.describe()
    assert restarted["EndpointStatus"] == "Updating", restarted
    assert restarted["EndpointConfigName"] == old_config
    assert restarted["PendingDeploymentSummary"]["EndpointConfigName"] == new_config
    shown = json.loads(aws.mlops("-o", "json", "status").stdout)
    (endpoint,) = [e for e in shown["endpoints"] if e["name"] == ENDPOINT]
    assert endpoint["status"] == "Updating" and endpoint["pending_deployment"]["endpoint_config"] == new_config
    busy = aws.mlops("deploy", "--model", models["trained"], "--endpoint", ENDPOINT)
    assert busy.exit_code == 1 and f"endpoint '{ENDPOINT}' is Updating" in " ".join(busy.output.split())
    assert "v2-" not in label(aws.url, DIGIT)  # the old model serves while the new fleet starts again

    done = settled(aws)
    assert done["EndpointStatus"] == "InService", done
    assert done["EndpointConfigName"] == new_config and "FailureReason" not in done
    assert done["LastDeploymentConfig"] == before["LastDeploymentConfig"]
    assert "v2-" in label(aws.url, DIGIT)
    shown = json.loads(aws.mlops("-o", "json", "status").stdout)
    (endpoint,) = [e for e in shown["endpoints"] if e["name"] == ENDPOINT]
    assert (endpoint["status"], endpoint["endpoint_config"], endpoint["failure_reason"]) == (
        "InService",
        new_config,
        None,
    )
    assert endpoint["pending_deployment"] is None


def test_a_rollout_cut_by_a_crash_is_rolled_back_by_its_alarm_afterwards(restartable):
    aws, models = restartable
    serving = aws.describe()["EndpointConfigName"]  # the relabelled model (the test above)

    before = crash_mid_rollout(aws, models["failing"])
    assert before["EndpointConfigName"] == serving
    # Traffic from the restart on: the canary's share fails, its alarm fires, the rollback takes it all back.
    with traffic(aws) as answers:
        done = settled(aws)
    assert done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == serving, done
    assert ALARM in done["FailureReason"]
    assert [answer for answer in answers if answer.startswith("error")], "the canary never took traffic"
    assert "v2-" in label(aws.url, DIGIT)
    shown = json.loads(aws.mlops("-o", "json", "status").stdout)
    (endpoint,) = [e for e in shown["endpoints"] if e["name"] == ENDPOINT]
    assert endpoint["status"] == "InService" and ALARM in endpoint["failure_reason"]


def test_a_model_answering_too_slowly_is_rolled_back_by_its_latency_alarm(restartable):
    aws, models = restartable
    serving = aws.describe()["EndpointConfigName"]  # the relabelled model (the tests above)
    put_alarm(
        local_client(aws.url, "cloudwatch"),
        THEIRS,
        MetricName="Invocation4XXErrors",
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Statistic="Sum",
        Threshold=1000,
        TreatMissingData="notBreaching",
    )
    # A quarter of the requests on the canary, baking 10 (local) minutes: its slow answers land within the bake
    # even on a loaded machine.
    guarded = ["--rollout", "canary:25%:10m", "--rollback-on", "p99>800ms", "--rollback-on", THEIRS]
    with traffic(aws) as answers:
        result = aws.mlops("deploy", "--model", models["slow"], "--endpoint", ENDPOINT, *guarded)
    assert result.exit_code == 1, result.output
    assert f"alarm {LATENCY_ALARM} went to ALARM" in " ".join(result.output.split())

    assert not [answer for answer in answers if answer.startswith("error")]  # slow, never failed
    slow = [index for index, answer in enumerate(answers) if answer == "slow"]
    assert slow, "the canary never answered"  # the new fleet served its share, slowly, until the rollback
    assert len(slow) <= 0.25 * len(answers) + 2, (len(slow), len(answers))
    assert "v2-zero" in answers[slow[0] :], answers  # the old model kept answering the rest meanwhile
    assert set(answers) == {"slow", "v2-zero"}

    done = aws.describe()
    assert done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == serving, done
    assert LATENCY_ALARM in done["FailureReason"]
    (state,) = aws_cli(aws.url, "cloudwatch", "describe-alarms", "--alarm-names", LATENCY_ALARM)["MetricAlarms"]
    assert state["StateValue"] == "ALARM" and state["ExtendedStatistic"] == "p99"
    assert max(json.loads(state["StateReasonData"])["recentDatapoints"]) >= SLOW_S * 1e6  # real latencies, in us
    assert label(aws.url, DIGIT) == "v2-zero"


def test_teardown_deletes_every_alarm_the_rollouts_made_and_never_the_user_s(restartable):
    aws, _models = restartable
    cloudwatch = local_client(aws.url, "cloudwatch")
    tags = cloudwatch.list_tags_for_resource(
        ResourceARN=cloudwatch.describe_alarms(AlarmNames=[LATENCY_ALARM])["MetricAlarms"][0]["AlarmArn"]
    )["Tags"]
    assert {"Key": "mlops:project", "Value": "digits"} in tags and {"Key": "mlops:endpoint", "Value": ENDPOINT} in tags
    torn = aws.mlops("-o", "json", "teardown", "--endpoint", ENDPOINT, "--yes")
    assert torn.exit_code == 0, torn.output
    left = {alarm["AlarmName"] for alarm in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert not {ALARM, LATENCY_ALARM} & left and THEIRS in left


@contextmanager
def traffic(aws: Restartable) -> Iterator[list[str]]:
    """Invocations sent one after another meanwhile: each answer's label, or the error."""
    answers: list[str] = []
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            try:
                answers.append(label(aws.url, DIGIT))
            except Exception as exc:  # counted: which failures happen is what these tests are about
                answers.append(f"error: {exc}")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        yield answers
    finally:
        stop.set()
        sender.join(timeout=60)
