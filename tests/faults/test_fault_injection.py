"""Faults on demand: the local AWS answers chosen calls with AWS's throttling, 5xx and access-denied errors, in each
service's own shape, on the Nth call or at a seeded rate; rules switch at run time through a signed control route.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import yaml

from mlops_cli.local.core import manager
from mlops_cli.local.core.faults import (
    CONTROL_PATH,
    FAULTS_ENV,
    FaultError,
    parse_rules,
    parse_spec,
    rules_from_env,
)
from tests.helpers import LOCAL_CONFIG, local_aws_server, local_client


@pytest.fixture
def faults(local_aws: str):
    """Set the session local AWS's fault rules for one test; always cleared after it."""

    def install(*rules: dict) -> dict:
        return manager.set_faults(local_aws, list(rules))

    try:
        yield install
    finally:
        manager.set_faults(local_aws, None)


def one_attempt(local_aws: str, service: str):
    """A boto3 client that does not retry: what the local AWS answered, as botocore parsed it."""
    return local_client(local_aws, service, retries={"mode": "standard", "total_max_attempts": 1})


def answered(call) -> tuple[str, int, str]:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        call()
    error, meta = raised.value.response["Error"], raised.value.response["ResponseMetadata"]
    return error["Code"], meta["HTTPStatusCode"], error.get("Message", "")


# service: (an operation, the action AWS names when it denies it, what AWS answers for each kind in KINDS)
CALLS = {
    "s3": (
        "ListBuckets",
        "s3:ListAllMyBuckets",
        [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503), ("AccessDenied", 403)],
    ),
    "sagemaker": (
        "ListEndpoints",
        "sagemaker:ListEndpoints",
        [("ThrottlingException", 400), ("InternalFailure", 500), ("ServiceUnavailable", 503)]
        + [("AccessDeniedException", 400)],
    ),
    "iam": (
        "ListRoles",
        "iam:ListRoles",
        [("Throttling", 400), ("InternalFailure", 500), ("ServiceUnavailable", 503), ("AccessDenied", 403)],
    ),
    "ec2": (
        "DescribeInstances",
        "ec2:DescribeInstances",
        [("RequestLimitExceeded", 503), ("InternalError", 500), ("Unavailable", 503), ("UnauthorizedOperation", 403)],
    ),
    "lambda": (
        "ListFunctions",
        "lambda:ListFunctions",
        [("TooManyRequestsException", 429), ("ServiceException", 500), ("ServiceUnavailable", 503)]
        + [("AccessDeniedException", 403)],
    ),
}
KINDS = ("Throttling", "InternalError", "ServiceUnavailable", "AccessDenied")


@pytest.mark.parametrize("service", sorted(CALLS))
def test_each_fault_in_the_services_own_shape(local_aws, faults, service):
    from mlops_cli.plan import snake_case

    operation, action, expected = CALLS[service]
    client = one_attempt(local_aws, service)
    call = getattr(client, snake_case(operation))
    for kind, (code, status) in zip(KINDS, expected, strict=True):
        faults({"operation": f"{service}:{operation}", "error": kind, "on_call": 1})
        got_code, got_status, message = answered(call)
        assert (got_code, got_status) == (code, status), kind
        if kind == "AccessDenied":  # AWS names the action it denied, which the CLI's one-line error shows
            assert f"is not authorized to perform: {action} " in message
        call()  # the second call is not faulted


def test_nth_calls_and_seeded_rate(local_aws, faults):
    sts = one_attempt(local_aws, "sts")
    faults({"operation": "sts:GetCallerIdentity", "error": "InternalError", "calls": [2, 3]})
    outcomes = []
    for _ in range(4):
        try:
            sts.get_caller_identity()
            outcomes.append("ok")
        except Exception:
            outcomes.append("fault")
    assert outcomes == ["ok", "fault", "fault", "ok"]

    def rate_run() -> list[int]:
        report = faults({"operation": "sts:*", "error": "ServiceUnavailable", "rate": 0.5, "seed": 7})
        assert report["rules"][0]["rate"] == 0.5
        for _ in range(12):
            try:
                sts.get_caller_identity()
            except Exception:
                pass
        return [hit["call"] for hit in manager.fault_report(local_aws)["struck"]]

    first = rate_run()
    assert 0 < len(first) < 12 and rate_run() == first  # the same seed strikes the same calls


def test_control_route_refuses_unsigned_and_foreign_requests(local_aws, faults):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps([{"operation": "*", "error": "AccessDenied"}]).encode()
    unsigned = urllib.request.Request(local_aws + CONTROL_PATH, data=body, method="PUT")
    foreign = AWSRequest("PUT", local_aws + CONTROL_PATH, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("AKIAFOREIGN000000000", "not-the-local-secret"), "mlops", "us-east-1").add_auth(foreign)
    prepared = foreign.prepare()
    for request in (
        unsigned,
        urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="PUT"),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
    assert manager.fault_report(local_aws)["rules"] == []  # nothing was installed


def test_rules_from_the_servers_environment(monkeypatch):
    monkeypatch.setenv(FAULTS_ENV, json.dumps([{"operation": "lambda:Invoke", "error": "Throttling", "calls": [1, 2]}]))
    assert [rule.to_dict() for rule in rules_from_env()] == [
        {"operation": "lambda:Invoke", "error": "Throttling", "calls": (1, 2)}
    ]
    monkeypatch.setenv(FAULTS_ENV, "s3:PutObject=Teapot@1")
    with pytest.raises(FaultError, match=r"MLOPS_LOCAL_FAULTS\[0\]\.error"):
        rules_from_env()


def test_bad_rules_are_refused_with_the_key():
    with pytest.raises(FaultError, match=r"faults\[0\]\.error: expected one of"):
        parse_rules([{"operation": "s3:PutObject", "error": "Teapot"}])
    with pytest.raises(FaultError, match=r"give one of on_call, calls, rate"):
        parse_rules([{"operation": "s3:PutObject", "error": "Throttling", "on_call": 1, "rate": 0.5}])
    with pytest.raises(FaultError, match=r"calls: last call 1 is before first call 3"):
        parse_rules([{"error": "Throttling", "calls": [3, 1]}])
    assert [rule.to_dict() for rule in parse_spec("sagemaker:CreateEndpoint=AccessDenied@1, s3:*=Throttling@2-4")] == [
        {"operation": "sagemaker:CreateEndpoint", "error": "AccessDenied", "on_call": 1},
        {"operation": "s3:*", "error": "Throttling", "calls": (2, 4)},
    ]
    assert parse_spec("*=InternalError%0.25#3")[0].to_dict() == {
        "operation": "*",
        "error": "InternalError",
        "rate": 0.25,
        "seed": 3,
    }


@pytest.mark.integration  # starts a local AWS of its own
@pytest.mark.slow
def test_rules_from_the_config_reach_the_server_local_up_starts(tmp_path, mlops_home):
    config = yaml.safe_load(LOCAL_CONFIG.read_text())
    config.setdefault("local", {})["faults"] = [{"operation": "s3:ListBuckets", "error": "AccessDenied", "on_call": 1}]
    path = tmp_path / "faulty.yaml"
    path.write_text(yaml.safe_dump(config))
    with local_aws_server(config=path) as url:
        s3 = one_attempt(url, "s3")
        assert answered(s3.list_buckets)[:2] == ("AccessDenied", 403)
        assert "Buckets" in s3.list_buckets()  # on_call 1 only: the second call goes through
