"""The local Lambda runtime (mlops_cli/local/lambda_/runtime.py) as the local AWS runs it: a program started by
path in the function's folder, the invocation on stdin, JSON documents on stdout, the function's output on
stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlops_cli.local.lambda_ import runtime

ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "fn",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
    "AWS_LAMBDA_LOG_STREAM_NAME": "stream",
}
HANDLERS = """
import time
print("loaded")

def echo(event, context):
    print("event", event)
    return {"event": event, "request": context.aws_request_id, "left_ms": context.get_remaining_time_in_millis()}

def boom(event, context):
    raise ValueError("no good")

def sleepy(event, context):
    time.sleep(5)

def unmarshalable(event, context):
    return {1, 2}
"""


def invocation(event: object, request_id: str = "req-1") -> bytes:
    body = json.dumps(event).encode()
    return json.dumps({"request_id": request_id, "length": len(body)}).encode() + b"\n" + body


def run(
    code: Path, handler: str, event: object = None, mode: str = "invoke", timeout: str = "3", stdin: bytes | None = None
) -> tuple[list, str]:
    stdin = stdin if stdin is not None else b"" if mode == "init" else invocation(event)
    done = subprocess.run(
        [sys.executable, runtime.__file__, str(code), handler, mode, timeout],
        input=stdin,
        capture_output=True,
        env=ENV,
        timeout=30,
    )
    documents = [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]
    return documents, done.stderr.decode()


def test_an_invocation_gets_its_event_and_context_and_the_function_output_goes_to_the_log(tmp_path):
    (tmp_path / "handlers.py").write_text(HANDLERS)
    (ready, answer), log = run(tmp_path, "handlers.echo", {"x": 1})
    assert "ready" in ready
    assert answer["result"]["event"] == {"x": 1} and answer["result"]["request"] == "req-1"
    assert 0 < answer["result"]["left_ms"] <= 3000
    assert "loaded" in log and "event {'x': 1}" in log


def test_one_environment_serves_invocation_after_invocation_with_one_init(tmp_path):
    """As a Lambda execution environment: the init once, then invocations one at a time, each log cut apart."""
    (tmp_path / "handlers.py").write_text(HANDLERS)
    (ready, first, second), log = run(
        tmp_path, "handlers.echo", stdin=invocation({"n": 1}, "req-1") + invocation({"n": 2}, "req-2")
    )
    assert "ready" in ready and first["result"]["event"] == {"n": 1} and second["result"]["event"] == {"n": 2}
    assert log.count("loaded") == 1
    assert f"{runtime.END_OF_LOGS} req-1" in log and f"{runtime.END_OF_LOGS} req-2" in log


def test_init_only_and_init_failures_are_lambdas_errors(tmp_path):
    (tmp_path / "handlers.py").write_text(HANDLERS)
    assert run(tmp_path, "handlers.echo", mode="init")[0] == [{"result": None}]
    [missing], _ = run(tmp_path, "nowhere.handler")
    assert missing["init_error"]["errorType"] == "Runtime.ImportModuleError"
    [absent], _ = run(tmp_path, "handlers.absent")
    assert absent["init_error"]["errorType"] == "Runtime.HandlerNotFound"


def test_runtime_modules_are_not_importable_as_the_function(tmp_path):
    """The runtime runs from the local AWS's folder; a handler named like its neighbours must not load them."""
    [answer], _ = run(tmp_path, "concurrency.Executions")  # a class of runtime.py's neighbour concurrency.py
    assert answer["init_error"]["errorType"] == "Runtime.ImportModuleError"


def test_errors_timeouts_and_unmarshalable_results(tmp_path):
    (tmp_path / "handlers.py").write_text(HANDLERS)
    (_, raised), _ = run(tmp_path, "handlers.boom")
    assert raised["error"]["errorType"] == "ValueError" and raised["error"]["requestId"] == "req-1"
    assert any("boom" in frame for frame in raised["error"]["stackTrace"])
    (_, late), _ = run(tmp_path, "handlers.sleepy", timeout="0.5")
    assert late["error"]["errorType"] == "Sandbox.Timedout"
    (_, odd), _ = run(tmp_path, "handlers.unmarshalable")
    assert odd["error"]["errorType"] == "Runtime.MarshalError"
