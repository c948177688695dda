"""Running a Lambda function here: execution environments are processes of runtime.py, one invocation (or one
init) at a time.

`Invoke` runs the function's handler from its zip (kept by moto) in a fresh Python process (a cold start each
time) or in a warm environment that provisioned concurrency keeps (provisioned.py), with the function's
environment plus this server as `AWS_ENDPOINT_URL` and its own credentials, the event on stdin. The output goes
to CloudWatch Logs `/aws/lambda/<name>` with START/END/REPORT lines.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_cli.local.core.archives import extract_zip
from mlops_cli.local.core.paths import confined
from mlops_cli.local.core.server import ServerContext
from mlops_cli.local.iam.sessions import role_env
from mlops_cli.local.lambda_ import runtime
from mlops_cli.local.lambda_.concurrency import Environment, WarmEnvironments
from mlops_cli.local.logs.streams import ensure_log_group

INIT_LIMIT_S = 10  # Lambda's own limit on a function's initialisation

RUNTIME = Path(runtime.__file__)  # the program an execution environment runs (by path: see runtime.py)


def lambda_time() -> str:
    """Now, as Lambda writes times (LastModified, log lines)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def log_stream_name(fn: Any) -> str:
    """One log stream per execution environment, named like Lambda's."""
    return f"{time.strftime('%Y/%m/%d')}/[{fn.version}]{uuid.uuid4().hex}"


class FunctionRunner:
    """The execution environments of this server's functions: started, run, and stopped with the server."""

    def __init__(self, context: ServerContext):
        self.context = context
        self.code_root = context.state_dir / "lambda-code"
        self.processes: set[subprocess.Popen] = set()
        self.warm = WarmEnvironments()
        context.on_shutdown(self.stop_processes)

    def stop_processes(self) -> None:
        self.warm.stop_all()
        for process in list(self.processes):
            process.kill()

    def code_dir(self, fn: Any) -> Path:
        """The function's zip extracted once per code hash (moto keeps the zip bytes of every version)."""
        target = confined(self.code_root, fn.code_digest)
        if not target.exists():
            self.code_root.mkdir(mode=0o700, parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=self.code_root, prefix=".extract-")) / "code"
            try:  # every member checked (UnsafeArchive otherwise), into a folder of its own, then moved in place
                extract_zip(fn.code_bytes, staging)
                staging.rename(target)
            except OSError:  # another request extracted the same code first
                pass
            finally:
                shutil.rmtree(staging.parent, ignore_errors=True)
        return target

    def check_zip(self, package: bytes) -> None:
        """UnsafeArchive unless `package` unpacks (checked as code_dir would unpack it, then removed)."""
        self.code_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=self.code_root, prefix=".check-"))
        try:
            extract_zip(package, scratch / "code")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def spawn(self, fn: Any, mode: str, log_stream: str) -> subprocess.Popen:
        """A new execution environment of the function: its process starts the init at once."""
        code_dir = self.code_dir(fn)
        env = self.context.process_env(
            fn.region,
            {
                "LANG": "C.UTF-8",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONUNBUFFERED": "1",
                **{str(key): str(value) for key, value in (fn.environment_vars or {}).items()},
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
                "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": str(fn.version),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
                "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
                "LAMBDA_TASK_ROOT": str(code_dir),
                "_HANDLER": fn.handler or "",
            },
        ) | role_env(self.context, fn.role, fn.function_name, fn.region)  # the function's execution role
        command = [sys.executable, str(RUNTIME), str(code_dir), fn.handler or "", mode, str(fn.timeout)]
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=code_dir,
            start_new_session=True,
        )
        self.processes.add(process)
        return process

    def run(
        self,
        fn: Any,
        mode: str,
        event: bytes,
        request_id: str,
        invoked_arn: str,
        log_stream: str,
        environment: Environment | None = None,
    ) -> tuple[dict[str, Any], str, float, float | None]:
        """(result document, log text, duration in ms, init duration in ms or None when the environment was
        already warm) of one invocation (or, mode "init", one init) in a new or the given environment."""
        started = time.monotonic()
        process = environment.process if environment else self.spawn(fn, mode, log_stream)
        # The function stops itself at its timeout; this only catches a process that cannot.
        limit = (0 if environment else INIT_LIMIT_S) + (0 if mode == "init" else int(fn.timeout) + 5)
        header = json.dumps({"request_id": request_id, "invoked_arn": invoked_arn}).encode() + b"\n"
        try:
            out, err = process.communicate(header + event, timeout=limit)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            duration = (time.monotonic() - started) * 1000
            message = f"{lambda_time()} {request_id} Task timed out after {float(fn.timeout):.2f} seconds"
            return (
                {"error": {"errorMessage": message, "errorType": "Sandbox.Timedout"}},
                err.decode("utf-8", "replace"),
                duration,
                None,
            )
        finally:
            self.processes.discard(process)
        duration = (time.monotonic() - started) * 1000
        logs = err.decode("utf-8", "replace")
        init_ms = None
        try:
            *ready, last = out.splitlines() or [b""]
            if ready:
                init_ms = float(json.loads(ready[0])["ready"])
                duration = max(0.0, duration - init_ms)  # Lambda reports the init apart (Init Duration)
            document = json.loads(last)
        except (ValueError, KeyError, TypeError):
            document = {
                "error": {
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                    f"exit status {process.returncode}",
                    "errorType": "Runtime.ExitError",
                }
            }
        return document, logs, duration, init_ms

    def write_logs(self, fn: Any, log_stream: str, lines: list[str]) -> None:
        """Into CloudWatch Logs of this same server; a logging failure never fails the invocation."""
        try:
            logs = self.context.client("logs", fn.region)
            ensure_log_group(logs, fn.logs_group_name)
            try:  # a warm environment writes every invocation to its one stream
                logs.create_log_stream(logGroupName=fn.logs_group_name, logStreamName=log_stream)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
            now = int(time.time() * 1000)
            logs.put_log_events(
                logGroupName=fn.logs_group_name,
                logStreamName=log_stream,
                logEvents=[{"timestamp": now, "message": line} for line in lines if line],
            )
        except Exception as exc:
            print(f"lambda hook: writing logs failed: {exc}", file=sys.stderr, flush=True)

    def execute(self, fn: Any, event: bytes, request_id: str, invoked_arn: str) -> tuple[dict[str, Any], str]:
        environment = self.warm.take((fn.account_id, fn.region, fn.function_name, str(fn.version)))
        log_stream = environment.log_stream if environment else log_stream_name(fn)
        document, logs, duration, init_ms = self.run(
            fn, "invoke", event, request_id, invoked_arn, log_stream, environment
        )
        lines = [f"START RequestId: {request_id} Version: {fn.version}", *logs.splitlines()]
        error = document.get("init_error") or document.get("error")
        if error:
            lines.append(json.dumps(error))
        lines += [
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
            f"Billed Duration: {int(duration) + 1} ms\tMemory Size: {fn.memory_size} MB"
            + (f"\tInit Duration: {init_ms:.2f} ms" if init_ms is not None else ""),
        ]
        self.write_logs(fn, log_stream, lines)
        return document, "\n".join(lines) + "\n"
