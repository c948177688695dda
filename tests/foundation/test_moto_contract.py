"""The contract with moto's internals: every one the local AWS uses (through mlops_cli/local/moto_compat.py), each
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

    cloudwatch = moto_compat.backend("cloudwatch", ACCOUNT, "eu-west-3")
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
    moto_compat.make_deterministic()
    made = []
    for _ in range(2):
        with moto_compat.seeded_at(7, AT):
            status, body = query(
                "iam",
                f"Action=CreateRole&Version=2010-05-08&RoleName=contract-seeded&AssumeRolePolicyDocument={TRUST}",
            )
        assert status.startswith("200"), body
        role = moto_compat.backend("iam", ACCOUNT, "global").roles
        found = next(r for r in role.values() if r.name == "contract-seeded")
        made.append((found.id, found.create_date))
        status, _ = query("iam", "Action=DeleteRole&Version=2010-05-08&RoleName=contract-seeded")
        assert status.startswith("200")
    assert made[0] == made[1], made
    assert made[0][1] == datetime.fromtimestamp(AT, UTC).replace(tzinfo=None)  # moto's clock read the request's
    assert moto_compat.utcnow() is not None and moto_compat.random().randint(0, 1) in (0, 1)


def state_round_trip() -> None:
    """Backends pickle and restore in place; a large S3 body goes to the blob store, not the pickle."""

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
    assert moto_compat.bucket_keys(ACCOUNT, "contract-state") == []
    assert moto_compat.load_state(data, blobs) == {"seq": 3}
    assert moto_compat.bucket_keys(ACCOUNT, "contract-state") == ["large"]
    assert call("GET", "/contract-state/large", b"", "s3")[1] == large
    assert moto_compat.bucket_keys(ACCOUNT, "no-such-bucket-contract") is None


def backend_collections() -> None:
    """The collections the local services read on moto's backends (records, autoscaler, strict checks)."""
    sagemaker = moto_compat.backend("sagemaker", ACCOUNT, "us-east-1")
    for name in ("endpoints", "endpoint_configs", "training_jobs", "hyper_parameter_tuning_jobs", "_models"):
        assert isinstance(getattr(sagemaker, name), dict), name
    scaling = moto_compat.backend("application-autoscaling", ACCOUNT, "us-east-1")
    assert isinstance(scaling.targets, dict) and isinstance(scaling.policies, dict)
    assert isinstance(moto_compat.backend("iam", ACCOUNT, "global").roles, dict)
    assert moto_compat.has_account("sagemaker", ACCOUNT)
    assert any(account == ACCOUNT for account, _, _ in moto_compat.backends("sagemaker"))
    sagemaker.endpoints["contract"] = type("Endpoint", (), {})()
    moto_compat.set_attributes(("sagemaker", ACCOUNT, "us-east-1", "endpoints", "contract"), {"status": "x"})
    assert sagemaker.endpoints["contract"].status == "x"
    moto_compat.delete(("sagemaker", ACCOUNT, "us-east-1", "endpoints", "contract"))
    assert "contract" not in sagemaker.endpoints


def lambda_backend() -> None:
    backend = moto_compat.lambda_backend(ACCOUNT, "us-east-1")
    assert callable(backend.get_function) and callable(backend.list_functions) and callable(backend.get_alias)


def ec2_models() -> None:
    backend = moto_compat.backend("ec2", ACCOUNT, "us-east-1")
    image = moto_compat.new_ami(backend, name="contract-image", description="x")
    assert backend.amis[image].name == "contract-image"
    reason = moto_compat.instance_shutdown_reason("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown")
    assert reason.code == "Client.UserInitiatedShutdown"


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
        "(__dict__, __setstate__, value, contentsize), moto.s3.exceptions.MissingBucket",
        state_round_trip,
    ),
    "backend_collections": (
        "the BackendDicts of sagemaker, application-autoscaling, iam and their collections",
        backend_collections,
    ),
    "cloudwatch_alarm_evaluation": (
        "moto.cloudwatch.models.CloudWatchBackend (alarms, metric_data, put_metric_alarm, put_metric_data with "
        "Values/Counts, set_alarm_state), FakeAlarm and MetricDatum attributes",
        cloudwatch_alarm_evaluation,
    ),
    "lambda_backend": ("moto.awslambda.utils.get_backend", lambda_backend),
    "ec2_models": (
        "moto.ec2.models.amis.Ami, moto.ec2.utils.random_ami_id, moto.ec2.models.instances.StateReason",
        ec2_models,
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
