"""The contract with moto's internals: every one the local AWS uses (through mlops_cli/local/moto_compat/), each
called once, in-process, with no server. A moto release that changes one fails here, in `make check`, with the
internal's name, not an hour later as a 500 in an integration test (moto 5.2.6 changed
`determine_request_protocol`'s argument and broke every non-S3 request). `make deps-latest` runs this file against
the newest moto the ranges allow.

Each check names the moto internals it relies on; a check that raises, or finds other behaviour, fails naming them.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from mlops_cli.local import moto_compat

ACCOUNT = "123456789012"
AT = 1_700_000_000.0  # a fixed clock for the seeded checks
TRUST = json.dumps(
    {
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
    }
)


def environ(method: str, path: str, body: bytes, service: str, headers: dict[str, str] | None = None) -> dict:
    """A WSGI environ as werkzeug's server makes it, signed for `service` (moto's dispatcher reads the scope)."""
    path, _, query = path.partition("?")
    scope = f"AKIAIOSFODNN7EXAMPLE/20261207/us-east-1/{service}/aws4_request"
    found = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "RAW_URI": path + (f"?{query}" if query else ""),
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "4599",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:4599",
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        found[key if key in ("CONTENT_TYPE",) else f"HTTP_{key}"] = value
    return found


_app: Any = None


def call(method: str, path: str, body: bytes, service: str, headers: dict[str, str] | None = None) -> tuple[str, bytes]:
    """(status line, body) of a request answered by moto's own WSGI app (moto_compat.server_app)."""
    global _app
    if _app is None:
        _app = moto_compat.server_app()
    request = environ(method, path, body, service, headers)
    moto_compat.prepare(_app, request)
    status: list[str] = []
    chunks = _app(request, lambda line, headers, exc_info=None: status.append(line))
    return status[0], b"".join(chunks)


def query(service: str, body: str) -> tuple[str, bytes]:
    return call("POST", "/", body.encode(), service, {"Content-Type": "application/x-www-form-urlencoded"})


def routed(service: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[str, str, dict]:
    """(operation, protocol, parameters) of a request, by moto's router and protocol parsers."""
    request = environ(method, path, body, service, headers)
    found = moto_compat.route(service, request, body)
    assert found is not None, f"moto's router found no operation for {method} {path}"
    params = moto_compat.parse_params(found, body, {k.lower(): v for k, v in headers.items()})
    return found[0].name, found[2], params


# --- the checks: (the internals they rely on, the check) --------------------------------------------------------


def cloudwatch_alarm_evaluation() -> None:
    """mlops_cli.local.cloudwatch.alarm_evaluation reads moto's alarms and metric data and sets alarm states."""
    from mlops_cli.local.cloudwatch import alarm_evaluation
    from mlops_cli.local.moto_compat.backends import backend

    cloudwatch = backend("cloudwatch", ACCOUNT, "eu-west-3")
    dimensions = [{"Name": "EndpointName", "Value": "e"}, {"Name": "EndpointConfigName", "Value": "new"}]
    cloudwatch.put_metric_alarm(
        name="contract-p90", namespace="AWS/SageMaker", metric_name="ModelLatency",
        comparison_operator="GreaterThanThreshold", evaluation_periods=1, period=60, threshold=500.0,
        statistic=None, extended_statistic="p90", description="", dimensions=dimensions, alarm_actions=[],
        datapoints_to_alarm=1, treat_missing_data="notBreaching",
    )  # fmt: skip
    assert alarm_evaluation.evaluate(ACCOUNT, "eu-west-3", "contract-p90", 1.0) == "OK"  # no data: not breaching
    datum = {"MetricName": "ModelLatency", "Dimensions": dimensions, "Values": [100, 900], "Counts": [8, 2]}
    cloudwatch.put_metric_data("AWS/SageMaker", [{**datum, "Timestamp": datetime.now(UTC)}])
    assert alarm_evaluation.evaluate(ACCOUNT, "eu-west-3", "contract-p90", 1.0) == "ALARM"  # p90 of 8x100, 2x900
    assert cloudwatch.alarms["contract-p90"].state_reason.startswith("Threshold crossed")


def route_query() -> None:
    body = b"Action=CreateRole&Version=2010-05-08&RoleName=contract-query&AssumeRolePolicyDocument=%7B%7D"
    operation, protocol, params = routed(
        "iam", "POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (operation, protocol, params["RoleName"]) == ("CreateRole", "query", "contract-query")


def route_json() -> None:
    operation, protocol, params = routed(
        "sagemaker",
        "POST",
        "/",
        b'{"EndpointName": "contract-json"}',
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.DescribeEndpoint"},
    )
    assert (operation, protocol, params) == ("DescribeEndpoint", "json", {"EndpointName": "contract-json"})


def route_rest_json() -> None:
    operation, protocol, params = routed(
        "lambda", "GET", "/2019-09-30/functions/contract-fn/concurrency", b"", {"Content-Type": "application/json"}
    )
    assert (operation, protocol, params) == ("GetFunctionConcurrency", "rest-json", {"FunctionName": "contract-fn"})


def route_rest_xml() -> None:
    operation, protocol, params = routed(
        "s3", "PUT", "/contract-bucket/a/key.txt", b"body", {"Content-Type": "text/plain", "Content-Length": "4"}
    )
    assert (operation, protocol) == ("PutObject", "rest-xml")
    assert (params["Bucket"], params["Key"]) == ("contract-bucket", "a/key.txt")


def service_model() -> None:
    model = moto_compat.service_model("sagemaker")
    assert model.metadata["targetPrefix"] == "SageMaker" and "CreateTrainingJob" in model.operation_names


def seeded_ids_and_clock() -> None:
    """The same seed and time give the same generated ids and timestamps (the journal's replay relies on it)."""
    from mlops_cli.local.moto_compat.records import iam

    moto_compat.make_deterministic()
    made = []
    for _ in range(2):
        with moto_compat.seeded_at(7, AT):
            status, body = query(
                "iam",
                f"Action=CreateRole&Version=2010-05-08&RoleName=contract-seeded&AssumeRolePolicyDocument={TRUST}",
            )
        assert status.startswith("200"), body
        found = iam.role(f"arn:aws:iam::{ACCOUNT}:role/contract-seeded")
        assert found is not None
        made.append((vars(found)["id"], found.create_date))
        status, _ = query("iam", "Action=DeleteRole&Version=2010-05-08&RoleName=contract-seeded")
        assert status.startswith("200")
    assert made[0] == made[1], made
    assert made[0][1] == datetime.fromtimestamp(AT, UTC).replace(tzinfo=None)  # moto's clock read the request's
    assert moto_compat.utcnow() is not None and moto_compat.random().randint(0, 1) in (0, 1)


def state_round_trip() -> None:
    """Backends pickle and restore in place; a large S3 body goes to the blob store, not the pickle (and the
    object reads of moto_compat/records/s3.py)."""
    from mlops_cli.local.moto_compat.records import s3

    class Blobs(dict):
        def put(self, body: bytes) -> str:
            self[str(len(self))] = body
            return str(len(self) - 1)

        def get(self, digest: str) -> bytes:
            return self[digest]

    assert call("PUT", "/contract-state", b"", "s3")[0].startswith("200")
    large = b"x" * 40_000
    assert call("PUT", "/contract-state/large", large, "s3")[0].startswith("200")
    blobs = Blobs()
    data, digests = moto_compat.dump_state({"seq": 3}, blobs, inline_max=16 * 1024)
    assert digests and large in blobs.values() and large not in data
    assert call("DELETE", "/contract-state/large", b"", "s3")[0].startswith("204")
    assert s3.bucket_keys(ACCOUNT, "contract-state") == []
    assert moto_compat.load_state(data, blobs) == {"seq": 3}
    assert s3.bucket_keys(ACCOUNT, "contract-state") == ["large"]
    assert call("GET", "/contract-state/large", b"", "s3")[1] == large
    assert s3.object_body(ACCOUNT, "contract-state", "large") == large
    assert s3.object_body(ACCOUNT, "contract-state", "no-such-key") is None
    assert s3.bucket_keys(ACCOUNT, "no-such-bucket-contract") is None


def conforms(record: Any, view: type) -> None:
    """moto's record has every attribute (and method) the seam's typed view declares."""
    names = [name for name in getattr(view, "__annotations__", {})]
    methods = [name for name, value in vars(view).items() if callable(value) and not name.startswith("_")]
    missing = [name for name in names if not hasattr(record, name)]
    missing += [name for name in methods if not callable(getattr(record, name, None))]
    assert not missing, f"moto's {type(record).__name__} lacks {missing} ({view.__name__})"


def sagemaker_call(action: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = call(
        "POST",
        "/",
        json.dumps(body).encode(),
        "sagemaker",
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"SageMaker.{action}"},
    )
    assert status.startswith("200"), f"{action}: {status} {answer[:300]!r}"
    return json.loads(answer or b"{}")


def scaling_call(action: str, body: dict[str, Any]) -> None:
    status, answer = call(
        "POST",
        "/",
        json.dumps(body).encode(),
        "application-autoscaling",
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"AnyScaleFrontendService.{action}"},
    )
    assert status.startswith("200"), f"{action}: {status} {answer[:300]!r}"


ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/contract-records"
RESOURCES = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}
TRAINING = {
    "AlgorithmSpecification": {"TrainingImage": "contract:latest", "TrainingInputMode": "File"},
    "RoleArn": ROLE_ARN,
    "OutputDataConfig": {"S3OutputPath": "s3://contract-records/out"},
    "ResourceConfig": RESOURCES,
    "StoppingCondition": {"MaxRuntimeInSeconds": 60},
}


def sagemaker_records() -> None:
    """Every record view of moto_compat/records/sagemaker.py on real records, and every lookup once."""
    from mlops_cli.local.moto_compat.records import sagemaker as records

    region = "us-east-1"
    sagemaker_call(
        "CreateModel",
        {"ModelName": "contract-model", "PrimaryContainer": {"Image": "contract:latest"}, "ExecutionRoleArn": ROLE_ARN},
    )
    variant = {
        "VariantName": "v",
        "ModelName": "contract-model",
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sagemaker_call("CreateEndpointConfig", {"EndpointConfigName": "contract-config", "ProductionVariants": [variant]})
    sagemaker_call("CreateEndpoint", {"EndpointName": "contract-endpoint", "EndpointConfigName": "contract-config"})
    sagemaker_call("CreateTrainingJob", {"TrainingJobName": "contract-job", **TRAINING})
    sagemaker_call(
        "CreateHyperParameterTuningJob",
        {
            "HyperParameterTuningJobName": "contract-tuning",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Random",
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1},
            },
            "TrainingJobDefinition": TRAINING,
        },
    )
    sagemaker_call(
        "CreateTransformJob",
        {
            "TransformJobName": "contract-transform",
            "ModelName": "contract-model",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://c/in"}}},
            "TransformOutput": {"S3OutputPath": "s3://c/out"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        },
    )
    endpoint = records.endpoint(ACCOUNT, region, "contract-endpoint")
    config = records.endpoint_config(ACCOUNT, region, "contract-config")
    model = records.model(ACCOUNT, region, "contract-model")
    training = records.training_job(ACCOUNT, region, "contract-job")
    tuning = records.tuning_job(ACCOUNT, region, "contract-tuning")
    transform = records.transform_job(ACCOUNT, region, "contract-transform")
    for record, view in (
        (endpoint, records.Endpoint),
        (config, records.EndpointConfig),
        (model, records.Model),
        (training, records.TrainingJob),
        (tuning, records.TuningJob),
        (transform, records.TransformJob),
    ):
        assert record is not None, view.__name__
        conforms(record, view)
    assert endpoint is not None and config is not None and tuning is not None
    assert records.endpoint(ACCOUNT, region, "no-such-endpoint") is None
    assert records.trials(tuning) == []
    for every, name in (
        (records.every_endpoint, "contract-endpoint"),
        (records.every_training_job, "contract-job"),
        (records.every_tuning_job, "contract-tuning"),
        (records.every_transform_job, "contract-transform"),
    ):
        assert (ACCOUNT, region, name) in [found[:3] for found in every()], every.__name__
    summaries = records.model_summaries(ACCOUNT, region)
    assert [m["ModelName"] for m in summaries] == ["contract-model"] and "CreationTime" in summaries[0]
    variants = records.serving_variants(endpoint, config.production_variants)
    assert variants[0]["VariantName"] == "v" and variants[0]["CurrentInstanceCount"] == 1
    moto_compat.set_attributes(
        ("sagemaker", ACCOUNT, region, "endpoints", "contract-endpoint"), {"endpoint_status": "Updating"}
    )
    assert endpoint.endpoint_status == "Updating"
    moto_compat.delete(("sagemaker", ACCOUNT, region, "endpoints", "contract-endpoint"))
    assert records.endpoint(ACCOUNT, region, "contract-endpoint") is None


def autoscaling_records() -> None:
    """moto_compat/records/autoscaling.py and cloudwatch.py on a real target, policy and alarm."""
    from mlops_cli.local.moto_compat.records import autoscaling, cloudwatch

    region, dimension, resource = "us-east-1", "sagemaker:variant:DesiredInstanceCount", "endpoint/contract/variant/v"
    target = {"ServiceNamespace": "sagemaker", "ResourceId": resource, "ScalableDimension": dimension}
    scaling_call("RegisterScalableTarget", {**target, "MinCapacity": 1, "MaxCapacity": 2})
    tracking = {
        "TargetValue": 5.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
    }
    scaling_call(
        "PutScalingPolicy",
        {
            **target,
            "PolicyName": "contract-policy",
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": tracking,
        },
    )
    found = autoscaling.target(ACCOUNT, region, dimension, resource)
    assert found is not None
    conforms(found, autoscaling.ScalableTarget)
    assert resource in autoscaling.target_resources(ACCOUNT, region, dimension)
    assert autoscaling.target_by_arn(ACCOUNT, region, found.arn) is found
    moto_compat.set_attributes(
        autoscaling.target_path(ACCOUNT, region, dimension, resource), {autoscaling.TAGS: {"a": "b"}}
    )
    assert autoscaling.target_tags(found) == {"a": "b"}
    key, policy = next((k, p) for k, p in autoscaling.policies(ACCOUNT, region).items() if p.resource_id == resource)
    conforms(policy, autoscaling.ScalingPolicy)

    alarms = cloudwatch.alarms(ACCOUNT, region)
    alarm = alarms.put_metric_alarm(
        name="contract-alarm",
        namespace="AWS/SageMaker",
        metric_name="InvocationsPerInstance",
        comparison_operator="GreaterThanThreshold",
        evaluation_periods=3,
        datapoints_to_alarm=3,
        period=6,
        threshold=5.0,
        statistic="Sum",
        description="contract",
        dimensions=[{"Name": "EndpointName", "Value": "contract"}],
        alarm_actions=[policy.policy_arn],
    )
    conforms(alarm, cloudwatch.Alarm)
    conforms(alarms, cloudwatch.Alarms)
    policy.alarms = [alarm]
    assert autoscaling.policy_alarms(policy) == [alarm]
    alarms.set_alarm_state("contract-alarm", "contract", "{}", "ALARM")
    assert alarm.state_value == "ALARM"
    alarms.delete_alarms(["contract-alarm"])
    assert "contract-alarm" not in alarms.alarms

    assert autoscaling.activities(ACCOUNT, region) == []
    autoscaling.activity_log(ACCOUNT, region).append({"ActivityId": "a"})
    assert autoscaling.activities(ACCOUNT, region) == [{"ActivityId": "a"}]
    moto_compat.delete(autoscaling.policy_path(ACCOUNT, region, key))
    moto_compat.delete(autoscaling.target_path(ACCOUNT, region, dimension, resource))
    assert (
        autoscaling.policies(ACCOUNT, region) == {} and autoscaling.target_resources(ACCOUNT, region, dimension) == []
    )


def iam_records() -> None:
    """moto_compat/records/iam.py: a role by ARN, its trust policy, an instance profile's role, a key's holder."""
    from mlops_cli.local.moto_compat.records import iam

    assert query("iam", f"Action=CreateRole&Version=2010-05-08&RoleName=contract-iam&AssumeRolePolicyDocument={TRUST}")[
        0
    ].startswith("200")
    arn = f"arn:aws:iam::{ACCOUNT}:role/contract-iam"
    role = iam.role(arn)
    assert role is not None
    conforms(role, iam.Role)
    assert (
        iam.role(f"arn:aws:iam::{ACCOUNT}:role/no-such-role") is None
        and iam.role("arn:aws:iam::999999999999:role/x") is None
    )
    assert json.loads(iam.trust_policy(ACCOUNT, arn)) == json.loads(TRUST)
    for action in (
        "Action=CreateInstanceProfile&InstanceProfileName=contract-profile",
        "Action=AddRoleToInstanceProfile&InstanceProfileName=contract-profile&RoleName=contract-iam",
        "Action=CreateUser&UserName=contract-user",
    ):
        assert query("iam", f"{action}&Version=2010-05-08")[0].startswith("200"), action
    assert iam.instance_profile_role(ACCOUNT, "contract-profile") == arn
    assert iam.instance_profile_role(ACCOUNT, "no-such-profile") is None
    status, body = query("iam", "Action=CreateAccessKey&Version=2010-05-08&UserName=contract-user")
    key_id = body.decode().split("<AccessKeyId>")[1].split("<")[0]
    caller = iam.iam_caller(ACCOUNT, key_id)
    assert caller is not None and caller["arn"].endswith(":user/contract-user") and caller["token"] is None
    assert iam.iam_caller(ACCOUNT, "AKIANOSUCHKEY0000000") is None
    assert iam.session_expiry(ACCOUNT, key_id) is None  # a user's key: no session
    status, body = query("sts", f"Action=AssumeRole&Version=2011-06-15&RoleArn={arn}&RoleSessionName=contract")
    session_key = body.decode().split("<AccessKeyId>")[1].split("<")[0]
    assert isinstance(iam.session_expiry(ACCOUNT, session_key), datetime)


def lambda_records() -> None:
    """moto_compat/records/lambda_.py on a real function and alias (moto's Docker-less backend)."""
    import base64
    import zipfile

    from mlops_cli.local.moto_compat.records import lambda_

    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    query("iam", f"Action=CreateRole&Version=2010-05-08&RoleName=contract-lambda&AssumeRolePolicyDocument={TRUST}")
    function = {
        "FunctionName": "contract-fn",
        "Runtime": "python3.12",
        "Role": f"arn:aws:iam::{ACCOUNT}:role/contract-lambda",
        "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(package.getvalue()).decode()},
    }
    headers = {"Content-Type": "application/json"}
    status, body = call("POST", "/2015-03-31/functions", json.dumps(function).encode(), "lambda", headers)
    assert status.startswith("201"), body
    alias = json.dumps({"Name": "live", "FunctionVersion": "$LATEST"}).encode()
    status, body = call("POST", "/2015-03-31/functions/contract-fn/aliases", alias, "lambda", headers)
    assert status.startswith("201"), body
    functions = lambda_.functions(ACCOUNT, "us-east-1")
    conforms(functions, lambda_.Functions)
    found = functions.get_function("contract-fn")
    conforms(found, lambda_.LambdaFunction)
    assert found.code_bytes.startswith(b"PK") and found.reserved_concurrency is None
    assert [f.function_name for f in functions.list_functions()] == ["contract-fn"]
    conforms(functions.get_alias("live", "contract-fn"), lambda_.Alias)


def ec2_records() -> None:
    """moto_compat/records/ec2.py: an image made, an instance shut down as its own shutdown does."""
    from mlops_cli.local.moto_compat.records import ec2

    image = ec2.new_ami(ACCOUNT, "us-east-1", name="contract-image", description="x")
    assert "contract-image" in ec2.image_names(ACCOUNT, "us-east-1")
    status, body = query("ec2", f"Action=RunInstances&Version=2016-11-15&ImageId={image}&MinCount=1&MaxCount=1")
    assert status.startswith("200"), body
    instance_id = body.decode().split("<instanceId>")[1].split("<")[0]
    ec2.shut_down_instance(ACCOUNT, "us-east-1", instance_id, False, "Client.Contract: shut down", "Client.Contract")
    status, body = query("ec2", f"Action=DescribeInstances&Version=2016-11-15&InstanceId.1={instance_id}")
    assert b"<name>stopped</name>" in body and b"Client.Contract" in body, body


def server_parts() -> None:
    assert moto_compat.server_request_handler() is not None
    status, body = query("sts", "Action=GetCallerIdentity&Version=2011-06-15")
    assert status.startswith("200") and ACCOUNT.encode() in body


CHECKS: dict[str, tuple[str, Callable[[], None]]] = {
    "route_query": (
        "moto.core.routing.get_service_router, moto.core.request.Request, "
        "moto.core.request.determine_request_protocol, moto.core.parse.PROTOCOL_PARSERS['query']",
        route_query,
    ),
    "route_json": (
        "moto.core.routing.get_service_router, moto.core.request.determine_request_protocol, "
        "moto.core.parse.PROTOCOL_PARSERS['json']",
        route_json,
    ),
    "route_rest_json": (
        "moto.core.routing.get_service_router, moto.core.request.determine_request_protocol, "
        "moto.core.parse.PROTOCOL_PARSERS['rest-json']",
        route_rest_json,
    ),
    "route_rest_xml": (
        "moto.core.routing.get_service_router, moto.core.request.determine_request_protocol, "
        "moto.core.parse.PROTOCOL_PARSERS['rest-xml']",
        route_rest_xml,
    ),
    "service_model": ("moto.core.utils.get_service_model", service_model),
    "seeded_ids_and_clock": (
        "moto.moto_api._internal.mock_random, moto.core.utils.utcnow, "
        "moto.core.base_backend.AccountSpecificBackend.__getitem__, moto.s3.models.os",
        seeded_ids_and_clock,
    ),
    "state_round_trip": (
        "moto.core.base_backend.BackendDict._instances, moto.s3.models.FakeKey "
        "(__dict__, __setstate__, value, contentsize), moto.s3.exceptions.MissingBucket, "
        "S3Backend.get_bucket/get_object",
        state_round_trip,
    ),
    "sagemaker_records": (
        "moto.sagemaker.models (sagemaker_backends, its collections, FakeEndpoint._process_production_variants, "
        "list_models, response_object) and the attributes of moto_compat/records/sagemaker.py's views",
        sagemaker_records,
    ),
    "cloudwatch_alarm_evaluation": (
        "moto.cloudwatch.models.CloudWatchBackend (alarms, metric_data, put_metric_alarm, put_metric_data with "
        "Values/Counts, set_alarm_state), FakeAlarm and MetricDatum attributes",
        cloudwatch_alarm_evaluation,
    ),
    "autoscaling_records": (
        "moto.applicationautoscaling.models (targets, policies) and moto.cloudwatch.models (put_metric_alarm, "
        "set_alarm_state, delete_alarms, alarms) as moto_compat/records/autoscaling.py and cloudwatch.py view them",
        autoscaling_records,
    ),
    "iam_records": (
        "moto.iam.models (roles, get_role_by_arn, instance_profiles), moto.iam.access_control "
        "(IAMUserAccessKey, AssumedRoleAccessKey, CreateAccessKeyFailure), moto.sts.models.sts_backends",
        iam_records,
    ),
    "lambda_records": (
        "moto.awslambda.utils.get_backend (get_function, list_functions, get_alias) and the attributes of "
        "moto_compat/records/lambda_.py's views",
        lambda_records,
    ),
    "ec2_records": (
        "moto.ec2.models.amis.Ami, moto.ec2.utils.random_ami_id, moto.ec2.models.instances.StateReason, "
        "ec2_backends (amis, get_instance, Instance.stop/terminate)",
        ec2_records,
    ),
    "server_parts": (
        "moto.moto_server.werkzeug_app (DomainDispatcherApplication, create_backend_app, "
        "MotoRequestHandler), moto.backends.list_of_moto_modules, moto.core.config.default_user_config",
        server_parts,
    ),
}


def run_check(name: str) -> str | None:
    """None when the check holds; else one line naming the moto internals it relies on and what went wrong."""
    internals, check = CHECKS[name]
    try:
        check()
    except Exception as exc:  # any change in moto's behaviour, whatever it raises
        return f"moto internal changed ({internals}): {type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_moto_internal(name: str) -> None:
    problem = run_check(name)
    assert problem is None, problem


def test_a_changed_internal_fails_the_contract_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.core.request

    # moto 5.2.6's change: determine_request_protocol takes the request, not (service model, content type).
    monkeypatch.setattr(moto.core.request, "determine_request_protocol", lambda request: request.content_type)

    problem = run_check("route_json")

    assert problem is not None and "moto.core.request.determine_request_protocol" in problem
    assert "TypeError" in problem
