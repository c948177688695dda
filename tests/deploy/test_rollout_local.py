"""`mlops deploy --rollout … --rollback-on …` against a local AWS whose minute lasts a second: a canary of a good
model shifts 10 % of real invocations to the new fleet, bakes, then takes all of them; a model that answers 5xx
is rolled back by the alarm its own errors fire, while the old model keeps answering. Which model answered is
told by its labels (the relabelled model says "v2-…")."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.conftest import _tar
from tests.helpers import local_client
from tests.ops.conftest import fast_aws, fast_cli  # noqa: F401  (fixtures: a local AWS 60x faster)

ENDPOINT = "digits-rollout"
BROKEN_ON_TRAFFIC = "this model fails on real traffic"
# Loads, then answers every request with a 500: what a canary is for.
FAILING_HANDLER = f"""
def model_fn(model_dir):
    return "loaded"

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    raise RuntimeError("{BROKEN_ON_TRAFFIC}")

def output_fn(prediction, accept):
    return prediction
"""


@dataclass
class Traffic:
    """Invocations sent one after another while a rollout runs, each with the rollout step DescribeEndpoint showed
    just before and just after it (so a count per step never depends on timing)."""

    answers: list[tuple[str, str, str]] = field(default_factory=list)  # (step before, label or error, step after)
    stop: threading.Event = field(default_factory=threading.Event)

    def during(self, step: str) -> list[str]:
        return [answer for before, answer, after in self.answers if before == after == step]


def _step(sm) -> str:
    described = sm.describe_endpoint(EndpointName=ENDPOINT)
    variants = (described.get("PendingDeploymentSummary") or {}).get("ProductionVariants") or []
    statuses = [status for variant in variants for status in variant.get("VariantStatus") or []]
    if not statuses or statuses[-1]["Status"] != "Baking":
        return described["EndpointStatus"]
    return statuses[-1]["StatusMessage"].split(":")[0]  # "Step 1 of 2"


def _send(url: str, body: bytes, traffic: Traffic) -> None:
    runtime, sm = local_client(url, "sagemaker-runtime"), local_client(url, "sagemaker")
    for _ in range(20000):  # bounded; ends when the rollout is over
        if traffic.stop.is_set():
            return
        before = _step(sm)
        try:
            response = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=body, ContentType="image/png")
            answer = json.loads(response["Body"].read())["predictions"][0]["top_k"][0]["label"]
        except Exception as exc:  # counted: which failures happen is what these tests are about
            answer = f"error: {exc}"
        traffic.answers.append((before, answer, _step(sm)))


def _with_traffic(url: str, body: bytes, run):
    traffic = Traffic()
    sender = threading.Thread(target=_send, args=(url, body, traffic), daemon=True)
    sender.start()
    try:
        return run(), traffic
    finally:
        traffic.stop.set()
        sender.join(timeout=60)


def rollout(model: str, *alarms: str) -> list[str]:
    """`deploy` of `model` to the endpoint as a 10 % canary baking 15 (local) minutes, rolled back on `alarms`: long
    enough for the 20+ requests the share is counted on even on a loaded machine (requests there take ~0.3 s)."""
    guards = [arg for alarm in alarms for arg in ("--rollback-on", alarm)]
    return ["deploy", "--model", model, "--endpoint", ENDPOINT, "--rollout", "canary:10%:15m", *guards]


@pytest.fixture(scope="module")
def models(fast_aws, artifacts, boto_client) -> dict[str, str]:  # noqa: F811
    """The relabelled model and one that fails on traffic, in the fast local AWS's S3 (where the trained one is)."""
    url, trained = fast_aws
    bucket, key = artifacts["relabelled"][5:].split("/", 1)
    relabelled = boto_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    s3 = local_client(url, "s3")
    s3.put_object(Bucket=bucket, Key=key, Body=relabelled)
    failing_key = key.replace("relabelled", "failing")
    s3.put_object(Bucket=bucket, Key=failing_key, Body=_tar({"code/inference.py": FAILING_HANDLER.encode()}))
    return {"trained": trained, "relabelled": artifacts["relabelled"], "failing": f"s3://{bucket}/{failing_key}"}


@pytest.fixture(scope="module")
def digit_png(digits_dir: Path) -> bytes:
    return next((digits_dir / "test").glob("*/*.png")).read_bytes()


def test_canary_shifts_a_tenth_then_all_of_the_traffic(fast_aws, fast_cli, models, digit_png):  # noqa: F811
    mlops, aws = fast_cli
    url = fast_aws[0]
    created = mlops("deploy", "--model", models["trained"], "--endpoint", ENDPOINT)
    assert created.exit_code == 0, created.output

    planned = mlops("-o", "json", "--dry-run", *rollout(models["relabelled"], "5xx>1%", "p99>10s"))
    assert planned.exit_code == 0, planned.output
    steps = json.loads(planned.stdout)["steps"]
    alarms = [step["params"] for step in steps if step["operation"] == "PutMetricAlarm"]
    assert [alarm["MetricName"] for alarm in alarms] == ["Invocation5XXErrors", "ModelLatency"]
    update = next(step["params"] for step in steps if step["operation"] == "UpdateEndpoint")
    routing = update["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing == {
        "Type": "CANARY",
        "WaitIntervalInSeconds": 900,
        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
    }
    names = [alarm["AlarmName"] for alarm in alarms]
    assert update["DeploymentConfig"]["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": n} for n in names]}

    result, traffic = _with_traffic(
        url,
        digit_png,
        lambda: mlops("-o", "json", *rollout(models["relabelled"], "5xx>1%", "p99>10s")),
    )
    assert result.exit_code == 0, result.output
    deployed = json.loads(result.stdout)
    assert deployed["rollout"]["alarms"] == names

    canary = traffic.during("Step 1 of 2")
    new = [answer for answer in canary if ".v2-" in answer or answer.startswith("v2-")]
    assert len(canary) >= 20, traffic.answers[-20:]
    assert not [answer for answer in canary if answer.startswith("error")]
    assert abs(len(new) - 0.1 * len(canary)) <= 1.5, (len(new), len(canary))
    full = traffic.during("Step 2 of 2")
    assert full and all("v2-" in answer for answer in full), full[:5]
    assert not [answer for _b, answer, _a in traffic.answers if answer.startswith("error")]

    described = aws("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == deployed["endpoint_config"]
    assert described["LastDeploymentConfig"] == deployed["rollout"]["deployment_config"]
    assert "PendingDeploymentSummary" not in described
    seen = aws("cloudwatch", "describe-alarms", "--alarm-names", *names)["MetricAlarms"]
    assert {alarm["AlarmName"]: alarm["StateValue"] for alarm in seen} == dict.fromkeys(names, "OK")


def test_a_model_failing_on_traffic_is_rolled_back_by_its_alarm(fast_aws, fast_cli, models, digit_png):  # noqa: F811
    mlops, aws = fast_cli
    url = fast_aws[0]
    before = aws("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)
    assert before["EndpointStatus"] == "InService"  # serving the relabelled model (the test above)

    result, traffic = _with_traffic(
        url,
        digit_png,
        lambda: mlops(*rollout(models["failing"], "5xx>1%")),
    )
    assert result.exit_code == 1, result.output
    alarm = f"digits-rollout-{ENDPOINT}-5xx-rate-gt-1pct"
    assert f"alarm {alarm} went to ALARM" in result.output
    assert before["EndpointConfigName"] in result.output  # "the previous configuration … keeps serving"

    failures = [answer for _b, answer, _a in traffic.answers if answer.startswith("error")]
    served = [answer for _b, answer, _a in traffic.answers if not answer.startswith("error")]
    assert served and all("v2-" in answer for answer in served)  # the old model answered every other request
    assert failures and all(BROKEN_ON_TRAFFIC in failure for failure in failures)  # only the canary's own errors
    assert len(failures) < 0.2 * len(traffic.answers) + 2

    described = aws("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == before["EndpointConfigName"]
    assert alarm in described["FailureReason"]
    assert described["LastDeploymentConfig"]["AutoRollbackConfiguration"] == {"Alarms": [{"AlarmName": alarm}]}
    states = aws("cloudwatch", "describe-alarms", "--alarm-names", alarm)["MetricAlarms"]
    assert states[0]["StateValue"] == "ALARM" and "Threshold crossed" in states[0]["StateReason"]

    after = local_client(url, "sagemaker-runtime").invoke_endpoint(
        EndpointName=ENDPOINT, Body=digit_png, ContentType="image/png"
    )
    assert "v2-" in json.loads(after["Body"].read())["predictions"][0]["top_k"][0]["label"]
    assert mlops("teardown", "--endpoint", ENDPOINT, "--yes").exit_code == 0
