"""A rollout survives a crash of the local AWS, as one survives a host failure on AWS: the server is killed
(SIGKILL) while the canary bakes and started again on the same state; the old configuration serves again, the
new fleet starts again and the rollout goes on from its first step, judged by the same alarms. A good model then
completes; a model that answers 5xx is rolled back by its alarm. Never a half state: the endpoint always names a
configuration that exists and serves. `status` and `deploy` tell the truth meanwhile and afterwards.

A local AWS of its own (a minute lasts a second), started with `mlops local up` and restarted the same way. The
models are handlers only (no weights): each answers with its own label, or fails, so which fleet answered is
plain and no training is needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mlops_cli.local.core import credentials
from tests.deploy.conftest import _tar, cli
from tests.deploy.test_rollout_local import FAILING_HANDLER
from tests.helpers import LOCAL_CONFIG, aws_cli, local_aws_server, local_client, wait_for
from tests.ops.conftest import FAST_TIME_SCALE

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # starts (and kills) its own local AWS

ENDPOINT = "digits-restarted"
BUCKET = "mlops-local"
MODELS = f"s3://{BUCKET}/digits/models/restart-tests"
CANARY = "canary:10%:20m"  # 20 s of baking at a minute a second: time to stop the follow and kill mid-step
ALARM = f"digits-rollout-{ENDPOINT}-5xx-rate-gt-1pct"


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


def labelling(label: str) -> bytes:
    """A model whose handler answers every request with `label`, in the shape of the real handler's answer."""
    handler = f"""
import json

def model_fn(model_dir):
    return "{label}"

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
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
    answers: list[str] = []
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            try:
                answers.append(label(aws.url, DIGIT))
            except Exception as exc:  # counted: the canary's own failures
                answers.append(f"error: {exc}")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        done = settled(aws)
    finally:
        stop.set()
        sender.join(timeout=60)
    assert done["EndpointStatus"] == "InService" and done["EndpointConfigName"] == serving, done
    assert ALARM in done["FailureReason"]
    assert [answer for answer in answers if answer.startswith("error")], "the canary never took traffic"
    assert "v2-" in label(aws.url, DIGIT)
    shown = json.loads(aws.mlops("-o", "json", "status").stdout)
    (endpoint,) = [e for e in shown["endpoints"] if e["name"] == ENDPOINT]
    assert endpoint["status"] == "InService" and ALARM in endpoint["failure_reason"]
    assert aws.mlops("teardown", "--endpoint", ENDPOINT, "--yes").exit_code == 0
