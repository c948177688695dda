"""Lambda concurrency acts in the local AWS: reserved concurrency 2 throttles a burst with AWS's 429, provisioned
concurrency keeps an environment warm, and `loadtest` reports cold starts apart from warm invocations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import cli, python_function

FUNCTION = "digits-burst"
SLOW = """
import time
time.sleep(0.3)  # an init worth keeping warm


def handler(event, context):
    time.sleep(1.0)
    return {"statusCode": 200, "body": "{}"}
"""


@pytest.fixture(scope="module")
def burst_function(boto_client):
    """A function whose invocations take a second, version 1 behind the alias `live`."""
    with python_function(boto_client, FUNCTION, "slow", SLOW) as lam:
        version = lam.publish_version(FunctionName=FUNCTION)["Version"]
        lam.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion=version)
        yield FUNCTION


def test_reserved_concurrency_throttles_a_burst_and_provisioned_stays_warm(
    burst_function, boto_client, digits_dir: Path
):
    plan = json.loads(
        cli(
            "-o",
            "json",
            "--dry-run",
            "concurrency",
            "set",
            "--function",
            FUNCTION,
            "--reserved",
            "2",
            "--provisioned",
            "1",
        ).stdout
    )
    assert plan["cost"]["items"][0]["item"] == "provisioned concurrency"
    assert plan["cost"]["items"][0]["usd_per_month"] > 0
    done = cli("concurrency", "set", "--function", FUNCTION, "--reserved", "2", "--provisioned", "1")
    assert done.exit_code == 0, done.output

    # 10 requests within a second, each running a second: 2 run (the warm one and one cold start), 8 get 429.
    result = cli(
        "-o",
        "json",
        "loadtest",
        "--target",
        "lambda",
        "--function",
        f"{FUNCTION}:live",
        "--rate",
        "10",
        "--duration",
        "1",
        "--images",
        str(digits_dir / "test"),
    )
    assert result.exit_code == 0, result.output
    load = json.loads(result.stdout)
    assert load["requests"] == 10 and load["ok"] == 2
    assert load["errors"] == {"4xx": 0, "5xx": 0, "throttled": 8, "timeout": 0}
    assert load["cold_starts"]["count"] == 1 and load["cold_starts"]["warm_p50_ms"] is not None

    # `status` prices what runs: one provisioned environment of 128 MB (the function's default), arm64 or not.
    status = json.loads(cli("-o", "json", "status").stdout)
    listed = next(f for f in status["functions"] if f["name"] == FUNCTION)
    assert listed["provisioned"] == 1 and listed["usd_per_hour"] > 0

    # The refusal has Lambda's shape: 429 TooManyRequestsException with the reason.
    lam = boto_client("lambda")
    lam.delete_provisioned_concurrency_config(FunctionName=FUNCTION, Qualifier="live")
    lam.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as refused:
        lam.invoke(FunctionName=FUNCTION, Qualifier="live", Payload=b"{}")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert refused.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"


def test_environments_are_reused_as_lambda_reuses_them(burst_function, boto_client):
    """Sequential invocations find the environment the last one left: $LATEST is cold once, then warm; an alias
    with provisioned concurrency 1 is warm every time (its environment is not used up by an invocation)."""
    import base64
    import uuid

    lam = boto_client("lambda")
    lam.delete_function_concurrency(FunctionName=FUNCTION)  # the test above switched the function off
    # A configuration change: $LATEST's environments so far served the old one, so the next start is cold.
    lam.update_function_configuration(FunctionName=FUNCTION, Environment={"Variables": {"RUN": uuid.uuid4().hex}})

    def cold(**qualifier: str) -> bool:
        answer = lam.invoke(FunctionName=FUNCTION, Payload=b"{}", LogType="Tail", **qualifier)
        return "Init Duration" in base64.b64decode(answer["LogResult"]).decode()

    assert [cold() for _ in range(3)] == [True, False, False]
    done = cli("concurrency", "set", "--function", FUNCTION, "--unreserved", "--provisioned", "1")
    assert done.exit_code == 0, done.output
    assert [cold(Qualifier="live") for _ in range(3)] == [False, False, False]
