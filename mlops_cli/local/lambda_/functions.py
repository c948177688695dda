"""Lambda in the embedded AWS: functions really run here, and provisioned concurrency exists.

moto (without Docker) answers `Invoke` with a canned string and has no provisioned concurrency or
`GetAccountSettings`, and enforces no account concurrency limit. Here:

- `Invoke` runs the function's handler from its zip (kept by moto) in a fresh Python process (a cold start
  each time) with the function's environment plus this server as `AWS_ENDPOINT_URL` and its own credentials,
  the event on stdin; the answer has Lambda's shape (200, `X-Amz-Executed-Version`, `X-Amz-Function-Error:
  Unhandled` with an error payload for init failures, exceptions and timeouts, `X-Amz-Log-Result` for
  `LogType=Tail`), and the output goes to CloudWatch Logs `/aws/lambda/<name>` with START/END/REPORT lines;
- provisioned concurrency (Put/Get/Delete/List) keeps state per function and qualifier, refuses what AWS
  refuses at once (`$LATEST` or an alias on it, more than the reserved concurrency, the account's last 100
  unreserved), and otherwise is IN_PROGRESS while the function's init really runs, then READY, or FAILED
  with the init error as its StatusReason; moving an alias re-allocates, as on AWS;
- `GetAccountSettings` and `PutFunctionConcurrency` apply an account limit of 1000 with 100 kept unreserved.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_cli.local.core.paths import confined
from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse, ServerContext
from mlops_cli.local.lambda_ import runtime
from mlops_cli.local.lambda_.concurrency import Environment, Executions, Throttle, WarmEnvironments
from mlops_cli.local.logs.streams import ensure_log_group

ACCOUNT_CONCURRENCY = 1000
MIN_UNRESERVED = 100
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
INIT_LIMIT_S = 10  # Lambda's own limit on a function's initialisation
TAIL_BYTES = 4096
REST_ERROR_TYPE = "User"

RUNTIME = Path(runtime.__file__)  # the program an execution environment runs (by path: see runtime.py)


@dataclass
class Provisioned:
    """One provisioned concurrency config (function + qualifier) and its allocation."""

    function_arn: str
    requested: int
    version: str  # the version it was allocated for (an alias may move)
    status: str = "IN_PROGRESS"
    reason: str = ""
    allocated: int = 0
    last_modified: str = field(default_factory=lambda: _now())
    generation: int = 0

    def shape(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": self.requested,
            "AvailableProvisionedConcurrentExecutions": self.allocated,
            "AllocatedProvisionedConcurrentExecutions": self.allocated,
            "Status": self.status,
            "LastModified": self.last_modified,
        }
        if self.reason:
            data["StatusReason"] = self.reason
        return data


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _error(code: str, message: str, status: int) -> LocalResponse:
    response = LocalResponse.aws_error(code, message, status)
    response.body = json.dumps({"Type": REST_ERROR_TYPE, "message": message}).encode()
    return response


def _backend(request: LocalRequest) -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.lambda_backend(request.account, request.region)


def _log_stream(fn: Any) -> str:
    """One log stream per execution environment, named like Lambda's."""
    return f"{time.strftime('%Y/%m/%d')}/[{fn.version}]{uuid.uuid4().hex}"


def _qualifier(request: LocalRequest) -> str | None:
    values = request.query.get("Qualifier") or request.query.get("qualifier")
    return values[0] if values else None


class LocalLambda:
    def __init__(self, context: ServerContext):
        self.context = context
        self.code_root = context.state_dir / "lambda-code"
        self.provisioned: dict[tuple[str, str, str, str], Provisioned] = {}
        self.lock = threading.Lock()
        self.processes: set[subprocess.Popen] = set()
        self.executions = Executions()
        self.warm = WarmEnvironments()
        context.on_shutdown(self.stop_processes)
        context.store.participant("lambda.provisioned", lambda: dict(self.provisioned), self.restore_provisioned)
        context.store.on_resume(self.resume_allocations)

    # --- durable state -------------------------------------------------------------------------------------

    def save(self) -> None:
        """Journal the provisioned concurrency configs (called with self.lock held, after each change)."""
        self.context.store.record("lambda.provisioned", dict(self.provisioned))

    def restore_provisioned(self, configs: dict[tuple[str, str, str, str], Provisioned]) -> None:
        self.provisioned.clear()
        self.provisioned.update(configs)

    def resume_allocations(self) -> None:
        """After a restart: allocations that were under way start again; READY ones stay READY and get their warm
        environments back (their processes went with the server)."""
        from mlops_cli.local import moto_compat

        with self.lock:
            for key, config in list(self.provisioned.items()):
                account, region, name, _ = key
                version = moto_compat.lambda_backend(account, region).get_function(name, config.version)
                if config.status == "IN_PROGRESS":
                    self.start_allocation(key, config, version)
                elif config.status == "READY":
                    self.keep_warm(key, version)

    def stop_processes(self) -> None:
        self.warm.stop_all()
        for process in list(self.processes):
            process.kill()

    # --- running the function ------------------------------------------------------------------------------

    def code_dir(self, fn: Any) -> Path:
        """The function's zip extracted once per code hash (moto keeps the zip bytes of every version)."""
        target = confined(self.code_root, fn.code_digest)
        if not target.exists():
            self.code_root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=self.code_root, prefix=".extract-"))
            with zipfile.ZipFile(io.BytesIO(fn.code_bytes)) as archive:
                archive.extractall(staging)
            try:
                staging.rename(target)
            except OSError:  # another request extracted the same code first
                shutil.rmtree(staging, ignore_errors=True)
        return target

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
        )
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
            message = f"{_now()} {request_id} Task timed out after {float(fn.timeout):.2f} seconds"
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

    def invoke(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        backend = _backend(request)
        name = request.path.rstrip("/").split("/")[-2]
        qualifier = _qualifier(request)
        try:
            fn = backend.get_function(name, qualifier)
        except Exception:  # moto's Docker-less backend would echo the payload even for a missing function
            target = f"arn:aws:lambda:{request.region}:{request.account}:function:{name}"
            return _error(
                "ResourceNotFoundException", f"Function not found: {target}{':' + qualifier if qualifier else ''}", 404
            )
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return _error(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the Invoke operation",
                413,
            )
        try:
            json.loads(request.body or b"{}")
        except (ValueError, RecursionError):  # AWS's parser has a nesting limit too
            return _error(
                "InvalidRequestContentException",
                "Could not parse request body into json: Could not parse payload into json",
                400,
            )
        invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "DryRun":
            return LocalResponse(204, b"", {"X-Amz-Executed-Version": str(fn.version)})
        request_id = str(uuid.uuid4())
        unqualified_arn = fn.function_arn if fn.version == "$LATEST" else fn.function_arn.rsplit(":", 1)[0]
        invoked_arn = f"{unqualified_arn}:{qualifier}" if qualifier else unqualified_arn
        if invocation_type == "Event":
            threading.Thread(target=self.execute, args=(fn, request.body, request_id, invoked_arn), daemon=True).start()
            return LocalResponse(202, b"", {"X-Amzn-RequestId": request_id})
        throttled = self.admit(request, backend, fn)
        if throttled is not None:
            response = _error("TooManyRequestsException", throttled.message, 429)
            response.body = json.dumps(
                {"Reason": throttled.reason, "Type": REST_ERROR_TYPE, "message": throttled.message}
            ).encode()
            return response
        try:
            document, tail = self.execute(fn, request.body, request_id, invoked_arn)
        finally:
            self.executions.release(request.account, request.region, fn.function_name)
        headers = {
            "Content-Type": "application/json",
            "X-Amz-Executed-Version": str(fn.version),
            "X-Amzn-RequestId": request_id,
        }
        if request.headers.get("x-amz-log-type") == "Tail":
            headers["X-Amz-Log-Result"] = base64.b64encode(tail.encode()[-TAIL_BYTES:]).decode()
        if "result" in document:
            return LocalResponse(200, json.dumps(document["result"]).encode(), headers)
        error = document.get("init_error") or document.get("error") or {}
        headers["X-Amz-Function-Error"] = "Unhandled"
        return LocalResponse(200, json.dumps(error).encode(), headers)

    def admit(self, request: LocalRequest, backend: Any, fn: Any) -> Throttle | None:
        """Count the execution against the function's reserved (or the account's unreserved) concurrency."""
        latest = backend.get_function(fn.function_name)
        reserved = None if latest.reserved_concurrency is None else int(latest.reserved_concurrency)
        reserving = {f.function_name for f in backend.list_functions() if f.reserved_concurrency is not None}

        def unreserved() -> int:
            with self.lock:
                return self.unreserved(backend)

        return self.executions.acquire(
            request.account, request.region, fn.function_name, reserved, unreserved, reserving
        )

    def execute(self, fn: Any, event: bytes, request_id: str, invoked_arn: str) -> tuple[dict[str, Any], str]:
        environment = self.warm.take((fn.account_id, fn.region, fn.function_name, str(fn.version)))
        log_stream = environment.log_stream if environment else _log_stream(fn)
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

    # --- concurrency ---------------------------------------------------------------------------------------

    def unreserved(self, backend: Any, excluding: str | None = None) -> int:
        """The account's unreserved concurrency: what reservations and unreserved provisioning leave."""
        used = 0
        for fn in backend.list_functions():
            if fn.function_name == excluding:
                continue
            if fn.reserved_concurrency is not None:
                used += int(fn.reserved_concurrency)
            else:
                used += sum(config.requested for key, config in self.provisioned.items() if key[2] == fn.function_name)
        return ACCOUNT_CONCURRENCY - used

    def account_settings(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        backend = _backend(request)
        functions = list(backend.list_functions())
        with self.lock:
            self.prune(request, backend)
            unreserved = self.unreserved(backend)
        return LocalResponse.json(
            {
                "AccountLimit": {
                    "TotalCodeSize": 80530636800,
                    "CodeSizeUnzipped": 262144000,
                    "CodeSizeZipped": 52428800,
                    "ConcurrentExecutions": ACCOUNT_CONCURRENCY,
                    "UnreservedConcurrentExecutions": unreserved,
                },
                "AccountUsage": {
                    "TotalCodeSize": sum(int(fn.code_size or 0) for fn in functions),
                    "FunctionCount": len(functions),
                },
            },
            content_type="application/json",
        )

    def put_function_concurrency(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        backend = _backend(request)
        name = request.path.rstrip("/").split("/")[-2]
        try:
            fn = backend.get_function(name)
            wanted = int(request.json().get("ReservedConcurrentExecutions"))
        except Exception:
            return forward(request)
        with self.lock:
            self.prune(request, backend)
            provisioned = sum(c.requested for key, c in self.provisioned.items() if key[2] == fn.function_name)
            if self.unreserved(backend, excluding=fn.function_name) - wanted < MIN_UNRESERVED:
                return _error(
                    "InvalidParameterValueException",
                    "Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}].",
                    400,
                )
            if wanted < provisioned:
                return _error(
                    "InvalidParameterValueException",
                    f"ReservedConcurrentExecutions {wanted} should not be lower than function's total "
                    f"provisioned concurrency [{provisioned}].",
                    400,
                )
        return forward(request)

    def key(self, request: LocalRequest, fn: Any, qualifier: str) -> tuple[str, str, str, str]:
        return (request.account, request.region, fn.function_name, qualifier)

    def resolve(self, backend: Any, name: str, qualifier: str) -> tuple[Any, str]:
        """(the function's $LATEST, the version the qualifier means); raises KeyError/ValueError."""
        latest = backend.get_function(name)
        if qualifier.isdigit():
            backend.get_function(latest.function_name, qualifier)
            return latest, qualifier
        version = backend.get_alias(qualifier, latest.function_name).function_version
        return latest, str(version)

    def prune(self, request: LocalRequest, backend: Any) -> None:
        """Forget configs of deleted functions, versions or aliases (AWS deletes them with their target)."""
        for key in list(self.provisioned):
            if key[:2] != (request.account, request.region):
                continue
            try:
                self.resolve(backend, key[2], key[3])
            except Exception:
                self.release_warm(key, self.provisioned.pop(key).version)
                self.save()

    def allocate(self, key: tuple[str, str, str, str], config: Provisioned, fn: Any) -> None:
        """Run the version's init once, as provisioning does, then start the environments it keeps warm: READY
        once they wait initialised, FAILED with the init error."""
        generation = config.generation
        request_id = str(uuid.uuid4())
        log_stream = _log_stream(fn)
        document, logs, _, _ = self.run(fn, "init", b"", request_id, config.function_arn, log_stream)
        self.write_logs(fn, log_stream, logs.splitlines())
        error = document.get("init_error") or document.get("error")
        with self.lock:
            if self.provisioned.get(key) is not config or config.generation != generation:
                return  # replaced or deleted meanwhile
            if error:
                config.status, config.allocated = "FAILED", 0
                config.reason = (f"FUNCTION_ERROR_INIT_FAILURE: {error.get('errorType')}: {error.get('errorMessage')}")[
                    :1000
                ]
                self.save()
                return
            version_key = self.keep_warm(key, fn)
        self.warm.wait_ready(version_key, INIT_LIMIT_S * 2)
        with self.lock:
            if self.provisioned.get(key) is config and config.generation == generation:
                config.status, config.allocated, config.reason = "READY", config.requested, ""
            self.save()

    def keep_warm(self, key: tuple[str, str, str, str], fn: Any) -> tuple[str, str, str, str]:
        """As many warm environments of the version as its provisioned configs ask for (called under lock)."""
        version_key = (key[0], key[1], key[2], str(fn.version))

        def environment() -> Environment:
            log_stream = _log_stream(fn)
            return Environment(self.spawn(fn, "invoke", log_stream), log_stream)

        self.warm.provision(version_key, self.provisioned_total(key, str(fn.version)), environment)
        return version_key

    def provisioned_total(self, key: tuple[str, str, str, str], version: str) -> int:
        return sum(
            c.requested
            for k, c in self.provisioned.items()
            if k[:3] == key[:3] and c.version == version and c.status != "FAILED"
        )

    def release_warm(self, key: tuple[str, str, str, str], version: str) -> None:
        """The version lost (some of) its provisioned concurrency (called under lock)."""
        self.warm.provision((key[0], key[1], key[2], version), self.provisioned_total(key, version))

    def start_allocation(self, key: tuple[str, str, str, str], config: Provisioned, version_fn: Any) -> None:
        config.generation += 1
        config.status, config.allocated, config.reason = "IN_PROGRESS", 0, ""
        self.save()
        threading.Thread(target=self.allocate, args=(key, config, version_fn), daemon=True).start()

    def provisioned_concurrency(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        backend = _backend(request)
        name = request.path.rstrip("/").split("/")[-2]
        qualifier = _qualifier(request)
        try:
            latest = backend.get_function(name)
        except Exception:
            return _error("ResourceNotFoundException", f"Function not found: {name}", 404)
        if request.method == "GET" and request.query.get("List"):
            return self.list_provisioned(request, backend, latest)
        if not qualifier:
            return _error("InvalidParameterValueException", "The Qualifier parameter is required.", 400)
        if qualifier == "$LATEST":
            return _error(
                "InvalidParameterValueException",
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
                400,
            )
        try:
            _, version = self.resolve(backend, name, qualifier)
        except Exception:
            return _error("ResourceNotFoundException", f"Function not found: {latest.function_arn}:{qualifier}", 404)
        key = self.key(request, latest, qualifier)
        with self.lock:
            self.prune(request, backend)
            config = self.provisioned.get(key)
            if request.method == "GET":
                if config is None:
                    return _error(
                        "ProvisionedConcurrencyConfigNotFoundException",
                        "No Provisioned Concurrency Config found for this function",
                        404,
                    )
                if version != config.version and version != "$LATEST":  # the alias moved: allocate anew
                    moved_from, config.version = config.version, version
                    self.release_warm(key, moved_from)
                    self.start_allocation(key, config, backend.get_function(latest.function_name, version))
                return LocalResponse.json(config.shape(), content_type="application/json")
            if request.method == "DELETE":
                if config is None:
                    return _error(
                        "ProvisionedConcurrencyConfigNotFoundException",
                        "No Provisioned Concurrency Config found for this function",
                        404,
                    )
                del self.provisioned[key]
                self.release_warm(key, config.version)
                self.save()
                return LocalResponse(204, b"", {})
            return self.put_provisioned(request, backend, latest, qualifier, version, key, config)

    def put_provisioned(
        self,
        request: LocalRequest,
        backend: Any,
        latest: Any,
        qualifier: str,
        version: str,
        key: tuple[str, str, str, str],
        config: Provisioned | None,
    ) -> LocalResponse:
        if version == "$LATEST":
            return _error(
                "InvalidParameterValueException",
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
                400,
            )
        try:
            wanted = int(request.json()["ProvisionedConcurrentExecutions"])
        except (KeyError, TypeError, ValueError):
            return _error("InvalidParameterValueException", "ProvisionedConcurrentExecutions is required.", 400)
        others = sum(c.requested for k, c in self.provisioned.items() if k[2] == latest.function_name and k != key)
        if latest.reserved_concurrency is not None and others + wanted > int(latest.reserved_concurrency):
            return _error(
                "InvalidParameterValueException",
                "Requested Provisioned Concurrency should not be "
                "greater than the reservedConcurrentExecution for function",
                400,
            )
        if (
            latest.reserved_concurrency is None
            and self.unreserved(backend) + (config.requested if config else 0) - wanted < MIN_UNRESERVED
        ):
            return _error(
                "InvalidParameterValueException",
                "Specified ConcurrentExecutions for function "
                f"decreases account's UnreservedConcurrentExecution below its minimum value of "
                f"[{MIN_UNRESERVED}].",
                400,
            )
        arn = f"{latest.function_arn}:{qualifier}"
        if config is None:
            config = self.provisioned[key] = Provisioned(arn, wanted, version)
        previous = config.version
        config.requested, config.version, config.last_modified = wanted, version, _now()
        self.release_warm(key, previous)  # what this config kept warm is allocated anew
        self.start_allocation(key, config, backend.get_function(latest.function_name, version))
        return LocalResponse.json(config.shape(), status=202, content_type="application/json")

    def list_provisioned(self, request: LocalRequest, backend: Any, latest: Any) -> LocalResponse:
        with self.lock:
            self.prune(request, backend)
            items = [
                {"FunctionArn": config.function_arn, **config.shape()}
                for key, config in sorted(self.provisioned.items())
                if key[:3] == (request.account, request.region, latest.function_name)
            ]
        return LocalResponse.json({"ProvisionedConcurrencyConfigs": items}, content_type="application/json")
