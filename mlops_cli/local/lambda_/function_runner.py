"""Running a Lambda function here: execution environments are processes of runtime.py, one invocation (or one
init) at a time, kept for the next invocation as Lambda keeps them.

`Invoke` runs the function's handler from its zip (kept by moto) in an idle environment of the function's
version (warm: provisioned concurrency keeps some, and any environment waits for the next invocation once done,
concurrency.py), or else in a new Python process (a cold start), with the function's environment plus this
server as `AWS_ENDPOINT_URL` and its own credentials, the event on stdin. $LATEST's environments serve only the
code and configuration they started with: a change starts new ones, as on Lambda. The output goes to CloudWatch
Logs `/aws/lambda/<name>` with START/END/REPORT lines.
"""

from __future__ import annotations

import hashlib
import json
import queue
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
from mlops_cli.local.lambda_.concurrency import Environment, Key, WarmEnvironments
from mlops_cli.local.logs.streams import ensure_log_group
from mlops_cli.local.moto_compat.records.lambda_ import LambdaFunction

INIT_LIMIT_S = 10  # Lambda's own limit on a function's initialisation

RUNTIME = Path(runtime.__file__)  # the program an execution environment runs (by path: see runtime.py)


def lambda_time() -> str:
    """Now, as Lambda writes times (LastModified, log lines)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def pool_key(fn: LambdaFunction) -> Key:
    """Which environments may serve `fn`: those of its version; for $LATEST, of its code and configuration too."""
    version = str(fn.version)
    if version == "$LATEST":
        revision = json.dumps(
            [fn.code_digest, fn.handler, str(fn.timeout), str(fn.memory_size), fn.environment_vars or {}],
            sort_keys=True,
            default=str,
        )
        version += ":" + hashlib.sha256(revision.encode()).hexdigest()[:16]
    return (fn.account_id, fn.region, fn.function_name, version)


def exit_error(request_id: str, process: Any) -> dict[str, Any]:
    return {
        "error": {
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {process.poll()}",
            "errorType": "Runtime.ExitError",
        }
    }


def log_stream_name(fn: LambdaFunction) -> str:
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

    def code_dir(self, fn: LambdaFunction) -> Path:
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

    def spawn(self, fn: LambdaFunction, mode: str, log_stream: str) -> subprocess.Popen:
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

    def start(self, fn: LambdaFunction, mode: str, log_stream: str) -> Environment:
        return Environment(self.spawn(fn, mode, log_stream), log_stream)

    def run(
        self,
        fn: LambdaFunction,
        mode: str,
        event: bytes,
        request_id: str,
        invoked_arn: str,
        log_stream: str,
        environment: Environment | None = None,
    ) -> tuple[dict[str, Any], str, float, float | None]:
        """(result document, log text, duration in ms, init duration in ms or None when the environment was
        already warm) of one invocation (or, mode "init", one init) in the given environment, or a new one. An
        environment that fails or times out is stopped (the caller never gets it back alive)."""
        started = time.monotonic()
        environment = environment or self.start(fn, mode, log_stream)
        init_ms = None
        try:
            if environment.init_ms is None:  # a cold start: this invocation waits for the init
                # The init, within Lambda's limit: {"ready": ms}, or the init's end (init mode, or its failure).
                first = environment.documents.get(timeout=INIT_LIMIT_S)
                if first is None or "ready" not in first:
                    environment.stop()
                    return (
                        first or exit_error(request_id, environment.process),
                        self._remaining_logs(environment),
                        (time.monotonic() - started) * 1000,
                        None,
                    )
                init_ms = environment.init_ms = float(first["ready"])
            header = {"request_id": request_id, "invoked_arn": invoked_arn, "length": len(event)}
            stdin = environment.process.stdin
            assert stdin is not None
            stdin.write(json.dumps(header).encode() + b"\n" + event)
            stdin.flush()
            # The function stops itself at its timeout; this only catches a process that cannot.
            document = environment.documents.get(timeout=float(fn.timeout) + 5)
        except queue.Empty:
            environment.stop()
            message = f"{lambda_time()} {request_id} Task timed out after {float(fn.timeout):.2f} seconds"
            return (
                {"error": {"errorMessage": message, "errorType": "Sandbox.Timedout"}},
                self._remaining_logs(environment),
                (time.monotonic() - started) * 1000,
                init_ms,
            )
        except OSError:  # the process went away under the write
            document = None
        duration = (time.monotonic() - started) * 1000
        if init_ms is not None:
            duration = max(0.0, duration - init_ms)  # Lambda reports the init apart (Init Duration)
        if document is None:
            environment.stop()
            return exit_error(request_id, environment.process), self._remaining_logs(environment), duration, init_ms
        try:
            logs = environment.logs.get(timeout=5) or ""
        except queue.Empty:
            logs = ""
        if document.get("error", {}).get("errorType") == "Sandbox.Timedout":
            environment.stop()
        return document, logs, duration, init_ms

    @staticmethod
    def _remaining_logs(environment: Environment) -> str:
        """What a stopped environment logged (until its log ends)."""
        parts = []
        while True:
            try:
                part = environment.logs.get(timeout=5)
            except queue.Empty:
                break
            if part is None:
                break
            parts.append(part)
        return "\n".join(p for p in parts if p)

    def write_logs(self, fn: LambdaFunction, log_stream: str, lines: list[str]) -> None:
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

    def execute(
        self, fn: LambdaFunction, event: bytes, request_id: str, invoked_arn: str
    ) -> tuple[dict[str, Any], str]:
        key = pool_key(fn)
        environment = self.warm.take(key)
        try:
            environment = environment or self.start(fn, "invoke", log_stream_name(fn))
            log_stream = environment.log_stream
            document, logs, duration, init_ms = self.run(
                fn, "invoke", event, request_id, invoked_arn, log_stream, environment
            )
        finally:
            self.warm.give_back(key, environment)
            if environment is not None and not environment.alive():
                self.processes.discard(environment.process)
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
