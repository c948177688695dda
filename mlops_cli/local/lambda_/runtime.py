"""The local Lambda runtime: the program one execution environment (a process) runs, by path, with the standard
library only (it runs the user's code and must not drag the local AWS in with it).

    python runtime.py CODE_DIR MODULE.FUNCTION MODE TIMEOUT_S

It imports the handler (the "init"); with MODE `init` it only reports that. Otherwise it says
{"ready": init ms} on its result channel, then serves invocations one at a time, as long as it lives, as a Lambda
execution environment does: each comes on stdin as a header line (request id, invoked ARN, the event's length)
and the event, and is answered with one JSON line. A warm environment is one that has said ready before its
invocation came. Its stdout carries only those JSON documents; everything the function prints goes to stderr
(the log), where each invocation ends with END_OF_LOGS and its request id, so the log of one invocation can be
told from the next. A timeout ends the environment (as on Lambda, which starts a fresh one); end of input ends
it too.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback
from typing import IO, Any, NoReturn


class Context:
    """What a Python handler gets as `context` on Lambda."""

    identity = None
    client_context = None

    def __init__(self, request_id: str, invoked_arn: str, deadline: float):
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def failure(error_type: str, exc: BaseException | str, request_id: str = "") -> dict[str, Any]:
    """Lambda's error document (the user's frames only: this runtime's own frame is left out)."""
    trace = traceback.extract_tb(exc.__traceback__)[1:] if isinstance(exc, BaseException) else []
    return {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": traceback.format_list(trace),
    }


END_OF_LOGS = "\x1e-- end of invocation"


class Channel:
    """The result channel: this process's original stdout, while the function's own stdout goes to stderr."""

    def __init__(self) -> None:
        self.out: IO[str] = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def say(self, document: dict[str, Any]) -> None:
        self.out.write(json.dumps(document) + "\n")
        self.out.flush()

    @staticmethod
    def end_of_logs(request_id: str) -> None:
        sys.stderr.flush()
        os.write(2, f"\n{END_OF_LOGS} {request_id}\n".encode())

    def end(self, document: dict[str, Any]) -> NoReturn:
        self.out.write(json.dumps(document))
        self.out.flush()
        sys.exit(0)


def load_handler(channel: Channel, handler_spec: str) -> Any:
    module_name, _, function_name = handler_spec.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except ImportError as exc:
        message = f"Unable to import module '{module_name}': {exc}"
        channel.end({"init_error": failure("Runtime.ImportModuleError", message)})
    except AttributeError:
        message = f"Handler '{function_name}' missing on module '{module_name}'"
        channel.end({"init_error": failure("Runtime.HandlerNotFound", message)})
    except BaseException as exc:
        channel.end({"init_error": failure(type(exc).__name__, exc)})


def invoke(handler: Any, header: dict[str, Any], body: bytes, timeout_s: float, channel: Channel) -> dict[str, Any]:
    """One invocation: the handler called with the event and a context; its result or Lambda's error document."""
    request_id = header.get("request_id", "")
    # The function's timeout counts from the invocation, not from the init (which has its own limit).
    context = Context(request_id, header.get("invoked_arn", ""), time.monotonic() + timeout_s)

    def timed_out(_signum: int, _frame: Any) -> None:
        message = f"{request_id} Task timed out after {timeout_s:.2f} seconds"
        channel.say({"error": {"errorMessage": message, "errorType": "Sandbox.Timedout"}})
        channel.end_of_logs(request_id)
        os._exit(0)  # a timed-out environment is not used again

    signal.signal(signal.SIGALRM, timed_out)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        event = json.loads(body or b"{}")
        value = handler(event, context)
    except BaseException as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return {"error": failure(type(exc).__name__, exc, request_id)}
    signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        return {"result": json.loads(json.dumps(value))}
    except (TypeError, ValueError) as exc:
        return {"error": failure("Runtime.MarshalError", f"Unable to marshal response: {exc}", request_id)}


def main(argv: list[str]) -> NoReturn:
    code_dir, handler_spec, mode, timeout_text = argv
    timeout_s = float(timeout_text)
    channel = Channel()
    sys.path[0] = code_dir  # the function's code is importable, this runtime's folder is not
    os.chdir(code_dir)

    init_started = time.monotonic()
    handler = load_handler(channel, handler_spec)
    init_ms = (time.monotonic() - init_started) * 1000
    if mode == "init":
        channel.end({"result": None})
    channel.say({"ready": round(init_ms, 2)})
    while True:
        line = sys.stdin.buffer.readline()
        if not line:  # the environment is shut down
            sys.exit(0)
        header = json.loads(line)
        body = sys.stdin.buffer.read(int(header.get("length") or 0))
        channel.say(invoke(handler, header, body, timeout_s, channel))
        channel.end_of_logs(header.get("request_id", ""))


if __name__ == "__main__":
    main(sys.argv[1:])
