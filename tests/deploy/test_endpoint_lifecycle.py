"""End to end against the local AWS, in order: deploy the trained model with scaling, invoke it, update it
blue/green under load, change its instance type under scaling, fail an update, tune and remove scaling, report
status, and tear everything down. Endpoints run as real local model servers."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import SERVED_PROJECT

ENDPOINT = "digits-endpoint"
RESOURCE = f"endpoint/{ENDPOINT}/variant/AllTraffic"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

pytestmark = pytest.mark.usefixtures("local_aws")


def listed(aws_cli, kind: str, name: str) -> list[str]:
    """`aws sagemaker list-<kind>` names, less the session's served model (another project's, alive all session)."""
    items = aws_cli("sagemaker", f"list-{kind}")[name.removesuffix("Name") + "s"]  # EndpointName -> Endpoints
    return [item[name] for item in items if not item[name].startswith(f"{SERVED_PROJECT}-")]


def as_json(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def scaling_seen_by_aws(aws_cli) -> tuple[list[dict], list[dict]]:
    targets = aws_cli(
        "application-autoscaling",
        "describe-scalable-targets",
        "--service-namespace",
        "sagemaker",
        "--resource-ids",
        RESOURCE,
    )["ScalableTargets"]
    policies = aws_cli(
        "application-autoscaling",
        "describe-scaling-policies",
        "--service-namespace",
        "sagemaker",
        "--resource-id",
        RESOURCE,
    )["ScalingPolicies"]
    return targets, policies


@pytest.fixture(scope="module")
def created(trained_job, artifacts):
    """`mlops deploy --autoscale max=2 --wait`: no --model, so the latest completed training job."""
    from .conftest import cli

    plan = cli("-o", "json", "--dry-run", "deploy", "--autoscale", "max=2")
    result = cli("-o", "json", "deploy", "--autoscale", "max=2", "--wait")
    return json.loads(plan.stdout), as_json(result)


def test_deploy_creates_the_endpoint_with_scaling(created, trained_job, aws_cli):
    plan, result = created
    assert [step["operation"] for step in plan["steps"]] == [
        "CreateRole",
        "PutRolePolicy",  # the endpoint's own role, converged first
        "CreateModel",
        "CreateEndpointConfig",
        "CreateEndpoint",
        "RegisterScalableTarget",
        "PutScalingPolicy",
    ]
    assert result["action"] == "create" and result["status"] == "InService"
    assert result["model_data"] == trained_job.model_data
    assert result["artifact_source"] == f"latest completed job {trained_job.name}"

    described = aws_cli("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == result["endpoint_config"]
    tags = aws_cli("sagemaker", "list-tags", "--resource-arn", described["EndpointArn"])["Tags"]
    assert {"Key": "mlops:project", "Value": "digits"} in tags

    targets, policies = scaling_seen_by_aws(aws_cli)
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(1, 2)]
    assert len(policies) == 1 and policies[0]["PolicyType"] == "TargetTrackingScaling"
    assert policies[0]["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 5.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleOutCooldown": 30,
        "ScaleInCooldown": 30,
    }


def test_invoke_a_photo_gives_a_valid_answer(created, mlops, china_jpg):
    answer = as_json(mlops("-o", "json", "invoke", str(china_jpg)))
    assert answer["content_type"] == "image/jpeg" and answer["variant"] == "AllTraffic"
    probabilities = [p["probability"] for p in answer["predictions"]]
    assert len(probabilities) == 5 and probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1.0001
    assert {p["label"] for p in answer["predictions"]} <= set(DIGITS)
    table = mlops("invoke", str(china_jpg), "--top-k", "3")
    assert table.exit_code == 0 and "probability" in table.stdout
    assert sum(label in table.stdout for label in DIGITS) == 3


def test_invoke_digit_images_gives_the_right_label(created, mlops, digits_dir: Path):
    images = [
        sorted((digits_dir / "test" / f"{index + 1:03d}.{name}").glob("*.png"))[0] for index, name in enumerate(DIGITS)
    ]
    right = 0
    for image, name in zip(images, DIGITS, strict=True):
        answer = as_json(mlops("-o", "json", "invoke", str(image), "--top-k", "1"))
        assert answer["content_type"] == "application/json"  # another k than the default goes as JSON
        assert len(answer["predictions"]) == 1
        right += answer["predictions"][0]["label"] == name
    assert right >= 8, f"{right}/10 digits right"


def test_the_endpoint_refuses_unsafe_urls(created, mlops, local_aws):
    # The endpoint's fetcher must never reach loopback (here: the local AWS itself).
    result = mlops("invoke", f"{local_aws}/mlops-local/anything.png")
    assert result.exit_code == 2  # a 4xx refusal of the input: exit 2, like `mlops lambda invoke`
    assert f"endpoint '{ENDPOINT}' refused the request (4" in result.output
    assert "Traceback" not in result.output


def test_the_model_servers_output_is_in_cloudwatch(created, mlops, aws_cli):
    """Where SageMaker puts it, and where InvokeEndpoint's ModelError points: /aws/sagemaker/Endpoints/<name>."""
    _, result = created
    refused = mlops("invoke", "https://192.168.0.1/x.png")  # the model refuses it (400): a line of its own
    assert refused.exit_code == 2, refused.output
    stream = f"{result['variant']}/{result['endpoint_config']}"
    deadline = time.monotonic() + 10  # lines are sent after at most 0.5 s of quiet
    while True:
        events = aws_cli(
            "logs",
            "get-log-events",
            "--log-group-name",
            f"/aws/sagemaker/Endpoints/{ENDPOINT}",
            "--log-stream-name",
            stream,
        )["events"]
        messages = "\n".join(event["message"] for event in events)
        if '"POST /invocations HTTP/1.1" 400' in messages or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "serving on 127.0.0.1:" in messages
    assert '"POST /invocations HTTP/1.1" 200' in messages, messages[-2000:]
    assert '"POST /invocations HTTP/1.1" 400' in messages, messages[-2000:]


def invoke_in_a_loop(runtime, body: bytes, stop: threading.Event, answers: list, errors: list) -> None:
    for _ in range(5000):  # bounded; ends when the update is done
        if stop.is_set():
            return
        try:
            response = runtime.invoke_endpoint(EndpointName=ENDPOINT, Body=body, ContentType="image/png")
            answers.append(json.loads(response["Body"].read())["predictions"][0]["top_k"][0]["label"])
        except Exception as exc:  # any failure during the update is what this test is about
            errors.append(repr(exc))
        stop.wait(0.05)


def test_second_deploy_updates_blue_green_while_serving(created, mlops, artifacts, boto_client, aws_cli, digits_dir):
    _, first = created
    plan = json.loads(mlops("-o", "json", "--dry-run", "deploy", "--model", artifacts["relabelled"]).stdout)
    update = next(step for step in plan["steps"] if step["operation"] == "UpdateEndpoint")
    assert update["params"]["RetainAllVariantProperties"] is True  # scaling in place, model-only change
    assert "DeregisterScalableTarget" not in [step["operation"] for step in plan["steps"]]

    image = sorted((digits_dir / "test" / "004.three").glob("*.png"))[0]
    body = image.read_bytes()
    stop, answers, errors = threading.Event(), [], []
    loop = threading.Thread(
        target=invoke_in_a_loop, args=(boto_client("sagemaker-runtime"), body, stop, answers, errors)
    )
    loop.start()
    try:
        result = as_json(mlops("-o", "json", "deploy", "--model", artifacts["relabelled"]))
    finally:
        stop.set()
        loop.join(60)
    assert errors == []
    assert result["action"] == "update" and result["previous_endpoint_config"] == first["endpoint_config"]
    # The old model answered until the switch, the new one after (never back): nothing in between failed.
    served_by_new = [label.startswith("v2-") for label in answers]
    assert served_by_new and not served_by_new[0] and served_by_new == sorted(served_by_new)
    after = as_json(mlops("-o", "json", "invoke", str(image)))
    assert after["predictions"][0]["label"].startswith("v2-")
    assert (
        aws_cli("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)["EndpointConfigName"]
        == result["endpoint_config"]
    )
    targets, policies = scaling_seen_by_aws(aws_cli)
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(1, 2)] and len(policies) == 1


def test_instance_type_change_under_scaling_reregisters_it(created, mlops, artifacts, boto_client, aws_cli):
    sm = boto_client("sagemaker")
    current = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    )
    variant = {**current["ProductionVariants"][0], "InstanceType": "ml.c5.large"}
    sm.create_endpoint_config(EndpointConfigName="digits-direct-c5", ProductionVariants=[variant])
    # Like AWS, the local AWS refuses a plain UpdateEndpoint that changes a scalable variant's instance type.
    with pytest.raises(sm.exceptions.ClientError, match="registered as scalable targets"):
        sm.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="digits-direct-c5")

    result = as_json(
        mlops("-o", "json", "deploy", "--model", artifacts["relabelled"], "--instance-type", "ml.c5.large")
    )
    assert result["status"] == "InService" and result["instance_type"] == "ml.c5.large"
    assert result["scaling"]["min"] == 1 and result["scaling"]["max"] == 2 and result["scaling"]["target"] == 5.0
    config = aws_cli("sagemaker", "describe-endpoint-config", "--endpoint-config-name", result["endpoint_config"])
    assert config["ProductionVariants"][0]["InstanceType"] == "ml.c5.large"
    targets, policies = scaling_seen_by_aws(aws_cli)
    assert len(targets) == 1 and len(policies) == 1


def test_broken_artifact_fails_with_the_reason_and_the_old_model_keeps_answering(
    created, mlops, artifacts, aws_cli, china_jpg
):
    before = aws_cli("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)
    result = mlops("deploy", "--model", artifacts["broken"], "--instance-type", "ml.c5.large")
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert "did not pass the ping health check: model_fn failed" in message
    assert f"the previous configuration {before['EndpointConfigName']} keeps serving" in message
    after = aws_cli("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == before["EndpointConfigName"]
    assert "model_fn failed" in after["FailureReason"]
    answer = as_json(mlops("-o", "json", "invoke", str(china_jpg)))
    assert answer["predictions"][0]["label"].startswith("v2-")


def test_autoscale_is_idempotent_tunable_and_removable(created, mlops, aws_cli):
    unchanged = mlops("-o", "json", "autoscale", "--max", "2")
    assert as_json(unchanged) == {**as_json(unchanged), "changed": False, "requests": []}
    assert "nothing changed" in unchanged.stderr

    plan = json.loads(mlops("-o", "json", "--dry-run", "autoscale", "--max", "4", "--target", "20").stdout)
    assert [step["operation"] for step in plan["steps"]] == ["RegisterScalableTarget", "PutScalingPolicy"]
    assert scaling_seen_by_aws(aws_cli)[0][0]["MaxCapacity"] == 2  # the dry run sent nothing

    tuned = as_json(
        mlops(
            "-o",
            "json",
            "autoscale",
            "--min",
            "1",
            "--max",
            "4",
            "--target",
            "20",
            "--scale-in-cooldown",
            "120",
            "--scale-out-cooldown",
            "15",
        )
    )
    assert tuned["changed"] is True
    targets, policies = scaling_seen_by_aws(aws_cli)
    assert (targets[0]["MinCapacity"], targets[0]["MaxCapacity"]) == (1, 4)
    tracking = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert (tracking["TargetValue"], tracking["ScaleInCooldown"], tracking["ScaleOutCooldown"]) == (20.0, 120, 15)
    shown = as_json(mlops("-o", "json", "autoscale", "--show"))["scaling"]
    assert (shown["min"], shown["max"], shown["target"]) == (1, 4, 20.0)

    off = as_json(mlops("-o", "json", "autoscale", "--off"))
    assert off["requests"] == ["DeleteScalingPolicy", "DeregisterScalableTarget"]
    assert scaling_seen_by_aws(aws_cli) == ([], [])
    again = mlops("-o", "json", "autoscale", "--off")
    assert as_json(again)["changed"] is False and "nothing changed" in again.stderr

    back = as_json(mlops("-o", "json", "autoscale"))  # the config's values: 1-2 at 5
    assert back["requests"] == ["RegisterScalableTarget", "PutScalingPolicy"]


def test_status_lists_job_endpoint_cost_and_scaling(created, mlops, trained_job):
    status = as_json(mlops("-o", "json", "status"))
    assert trained_job.name in [job["name"] for job in status["training_jobs"]]
    endpoint = next(e for e in status["endpoints"] if e["name"] == ENDPOINT)
    assert endpoint["status"] == "InService"
    assert endpoint["variants"] == [
        {
            "variant": "AllTraffic",
            "model": endpoint["variants"][0]["model"],
            "instance_type": "ml.c5.large",
            "instance_count": 1,
            "serverless": None,
            "scaling": {"min": 1, "max": 2},
            "usd_per_hour": 0.102,
        }
    ]
    assert endpoint["usd_per_hour"] == 0.102 and "us-east-1" in status["prices"]
    table = mlops("status")
    assert table.exit_code == 0 and ENDPOINT in table.stdout and "USD/hour" in table.stdout


def test_failed_create_is_reported_and_not_updated(created, mlops, artifacts, aws_cli, china_jpg):
    result = mlops("deploy", "--endpoint", "digits-broken", "--model", artifacts["broken"])
    assert result.exit_code == 1
    assert "endpoint 'digits-broken' failed to create" in result.stderr
    described = aws_cli("sagemaker", "describe-endpoint", "--endpoint-name", "digits-broken")
    assert described["EndpointStatus"] == "Failed" and "model_fn failed" in described["FailureReason"]
    again = mlops("deploy", "--endpoint", "digits-broken", "--model", artifacts["relabelled"])
    assert again.exit_code == 1
    assert "failed earlier" in again.stderr and "mlops teardown --endpoint digits-broken" in again.stderr
    invoked = mlops("invoke", "--endpoint", "digits-broken", str(china_jpg))
    assert invoked.exit_code == 1 and "is Failed and cannot be invoked" in invoked.stderr


def test_teardown_of_one_endpoint_takes_its_configs_and_models_only(created, mlops, aws_cli):
    broken = aws_cli("sagemaker", "describe-endpoint", "--endpoint-name", "digits-broken")
    done = as_json(mlops("-o", "json", "teardown", "--endpoint", "digits-broken", "--yes"))
    assert done["deleted"]["endpoints"] == ["digits-broken"]
    assert done["deleted"]["endpoint_configs"] == [broken["EndpointConfigName"]]  # the refused redeploy made none
    assert len(done["deleted"]["models"]) == 1
    assert done["deleted"]["scalable_targets"] == [] and done["deleted"]["functions"] == []
    assert listed(aws_cli, "endpoints", "EndpointName") == [ENDPOINT]
    assert aws_cli("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)["EndpointStatus"] == "InService"


@pytest.fixture
def foreign_endpoint(boto_client):
    """An endpoint of someone else (no project tag, no project prefix); its model data does not exist."""
    sm, iam = boto_client("sagemaker"), boto_client("iam")
    role = iam.create_role(
        RoleName="other",
        AssumeRolePolicyDocument=json.dumps(
            {  # SageMaker must be able to assume
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    sm.create_model(
        ModelName="other-model",
        ExecutionRoleArn=role,
        PrimaryContainer={"Image": "other", "ModelDataUrl": "s3://mlops-local/other/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName="other-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "other-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName="other-endpoint", EndpointConfigName="other-config")
    yield "other-endpoint"
    sm.delete_endpoint(EndpointName="other-endpoint")
    sm.delete_endpoint_config(EndpointConfigName="other-config")
    sm.delete_model(ModelName="other-model")
    iam.delete_role(RoleName="other")


@pytest.fixture
def project_function(boto_client):
    """The project's Lambda function (the name `mlops lambda deploy` gives it: <project>-invoke)."""
    import io
    import zipfile

    iam, lam = boto_client("iam"), boto_client("lambda")
    role = iam.create_role(
        RoleName="digits-teardown-test",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    lam.create_function(
        FunctionName="digits-invoke",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    yield "digits-invoke"
    iam.delete_role(RoleName="digits-teardown-test")


def test_teardown_all_leaves_nothing_of_the_project(
    created, mlops, aws_cli, china_jpg, foreign_endpoint, project_function
):
    refused = mlops("teardown", "--endpoint", foreign_endpoint, "--yes")
    assert refused.exit_code == 2 and "does not belong to project 'digits'" in refused.stderr
    assert project_function in [f["name"] for f in as_json(mlops("-o", "json", "status"))["functions"]]

    plan = json.loads(mlops("-o", "json", "--dry-run", "teardown", "--all").stdout)
    operations = [step["operation"] for step in plan["steps"]]
    assert (
        operations.index("DeregisterScalableTarget")
        < operations.index("DeleteEndpoint")
        < operations.index("DeleteEndpointConfig")
        < operations.index("DeleteModel")
    )
    assert {"EndpointName": ENDPOINT} in [step["params"] for step in plan["steps"]]
    assert aws_cli("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)  # the dry run deleted nothing

    done = as_json(mlops("-o", "json", "teardown", "--all", "--yes"))
    assert {row["outcome"] for row in done["steps"]} == {"deleted"}
    assert "digits-direct-c5" in done["deleted"]["endpoint_configs"]  # made outside deploy, found by prefix
    assert listed(aws_cli, "endpoints", "EndpointName") == [foreign_endpoint]
    assert listed(aws_cli, "endpoint-configs", "EndpointConfigName") == ["other-config"]
    assert listed(aws_cli, "models", "ModelName") == ["other-model"]
    assert scaling_seen_by_aws(aws_cli) == ([], [])
    assert (
        aws_cli("application-autoscaling", "describe-scalable-targets", "--service-namespace", "sagemaker")[
            "ScalableTargets"
        ]
        == []
    )
    gone = mlops("invoke", str(china_jpg))
    assert gone.exit_code == 1 and f"endpoint '{ENDPOINT}' not found" in gone.stderr

    # Lambda functions go only when asked.
    assert project_function in [f["FunctionName"] for f in aws_cli("lambda", "list-functions")["Functions"]]
    functions = as_json(mlops("-o", "json", "teardown", "--all", "--lambda", "--yes"))
    assert [row["operation"] for row in functions["steps"]] == ["DeleteFunction"]
    assert project_function not in [f["FunctionName"] for f in aws_cli("lambda", "list-functions")["Functions"]]
    assert as_json(mlops("-o", "json", "teardown", "--all", "--lambda", "--yes"))["steps"] == []
