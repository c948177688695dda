"""The Lambda requests the local AWS answers itself: moto (without Docker) answers `Invoke` with a canned string,
has no provisioned concurrency or `GetAccountSettings`, and enforces no account concurrency limit. Here:

- `Invoke` runs the function (function_runner.py) and answers in Lambda's shape (200, `X-Amz-Executed-Version`,
  `X-Amz-Function-Error: Unhandled` with an error payload for init failures, exceptions and timeouts,
  `X-Amz-Log-Result` for `LogType=Tail`); reserved and unreserved concurrency throttle it (concurrency.py);
- provisioned concurrency (Put/Get/Delete/List, provisioned.py) refuses what AWS refuses at once (`$LATEST` or
  an alias on it, more than the reserved concurrency, the account's last 100 unreserved);
- `GetAccountSettings` and `PutFunctionConcurrency` apply the account limit of 1000 with 100 kept unreserved;
- `GetFunction` shows a reservation of 0 (moto leaves it out).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid

from mlops_cli.local.core.archives import UnsafeArchive
from mlops_cli.local.core.process_env import endpoint_problems
from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse, ServerContext
from mlops_cli.local.lambda_.concurrency import Executions, Throttle
from mlops_cli.local.lambda_.function_runner import FunctionRunner, lambda_time
from mlops_cli.local.lambda_.provisioned import (
    ACCOUNT_CONCURRENCY,
    MIN_UNRESERVED,
    Provisioned,
    ProvisionedConcurrency,
)
from mlops_cli.local.moto_compat.records.lambda_ import Functions, LambdaFunction, functions

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
TAIL_BYTES = 4096
REST_ERROR_TYPE = "User"


def _error(code: str, message: str, status: int) -> LocalResponse:
    response = LocalResponse.aws_error(code, message, status)
    response.body = json.dumps({"Type": REST_ERROR_TYPE, "message": message}).encode()
    return response


def _backend(request: LocalRequest) -> Functions:
    return functions(request.account, request.region)


def _qualifier(request: LocalRequest) -> str | None:
    values = request.query.get("Qualifier") or request.query.get("qualifier")
    return values[0] if values else None


class FunctionRequests:
    """Invoke, concurrency and account settings, answered for the functions moto keeps."""

    def __init__(self, context: ServerContext):
        self.runner = FunctionRunner(context)
        self.concurrency = ProvisionedConcurrency(context, self.runner)
        self.executions = Executions()

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
        try:
            self.runner.code_dir(fn)  # unpacked once per code; a package that cannot be is Lambda's 502
        except UnsafeArchive as exc:
            return _error("InvalidZipFileException", f"Lambda was unable to unzip the deployment package: {exc}", 502)
        invocation_type = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if invocation_type == "DryRun":
            return LocalResponse(204, b"", {"X-Amz-Executed-Version": str(fn.version)})
        request_id = str(uuid.uuid4())
        unqualified_arn = fn.function_arn if fn.version == "$LATEST" else fn.function_arn.rsplit(":", 1)[0]
        invoked_arn = f"{unqualified_arn}:{qualifier}" if qualifier else unqualified_arn
        if invocation_type == "Event":
            threading.Thread(
                target=self.runner.execute, args=(fn, request.body, request_id, invoked_arn), daemon=True
            ).start()
            return LocalResponse(202, b"", {"X-Amzn-RequestId": request_id})
        throttled = self.admit(request, backend, fn)
        if throttled is not None:
            response = _error("TooManyRequestsException", throttled.message, 429)
            response.body = json.dumps(
                {"Reason": throttled.reason, "Type": REST_ERROR_TYPE, "message": throttled.message}
            ).encode()
            return response
        try:
            document, tail = self.runner.execute(fn, request.body, request_id, invoked_arn)
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

    def check_function(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        """CreateFunction / UpdateFunctionCode / UpdateFunctionConfiguration, before moto keeps them: an inline
        zip is refused as Lambda refuses a package it cannot unzip, here also one with members outside its folder
        (mlops_cli.local.core.archives); endpoint variables follow the CLI's https rule, since the function runs
        here with them (mlops_cli.local.core.process_env)."""
        try:
            document = request.json()
        except ValueError:
            return forward(request)  # moto answers what AWS answers for a body that does not parse
        if not isinstance(document, dict):
            return forward(request)
        code = document.get("Code") if request.path.rstrip("/").endswith("functions") else document
        inline = code.get("ZipFile") if isinstance(code, dict) and request.method in ("POST", "PUT") else None
        environment = document.get("Environment")
        variables = environment.get("Variables") if isinstance(environment, dict) else None
        if isinstance(variables, dict) and endpoint_problems(variables):
            name, problem = next(iter(endpoint_problems(variables).items()))
            return _error(
                "InvalidParameterValueException",
                f"Lambda was unable to configure your environment variables: env {name}: {problem}",
                400,
            )
        try:
            package = base64.b64decode(inline, validate=True) if isinstance(inline, str) else None
        except ValueError:
            package = None  # moto answers what AWS answers for a base64 that does not parse
        if package is not None:
            try:
                self.runner.check_zip(package)
            except UnsafeArchive as exc:
                return _error(
                    "InvalidParameterValueException",
                    f"Could not unzip uploaded file. Please check your file, then try to upload again. ({exc})",
                    400,
                )
        return forward(request)

    def admit(self, request: LocalRequest, backend: Functions, fn: LambdaFunction) -> Throttle | None:
        """Count the execution against the function's reserved (or the account's unreserved) concurrency."""
        latest = backend.get_function(fn.function_name)
        reserved = None if latest.reserved_concurrency is None else int(latest.reserved_concurrency)
        reserving = {f.function_name for f in backend.list_functions() if f.reserved_concurrency is not None}

        def unreserved() -> int:
            with self.concurrency.lock:
                return self.concurrency.unreserved(backend)

        return self.executions.acquire(
            request.account, request.region, fn.function_name, reserved, unreserved, reserving
        )

    def account_settings(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        backend = _backend(request)
        functions = list(backend.list_functions())
        with self.concurrency.lock:
            self.concurrency.prune(request, backend)
            unreserved = self.concurrency.unreserved(backend)
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
        with self.concurrency.lock:
            self.concurrency.prune(request, backend)
            provisioned = sum(
                c.requested for key, c in self.concurrency.provisioned.items() if key[2] == fn.function_name
            )
            if self.concurrency.unreserved(backend, excluding=fn.function_name) - wanted < MIN_UNRESERVED:
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

    def get_function(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        """moto's GetFunction leaves `Concurrency` out for a reservation of 0 (it tests the value, not its
        presence); AWS answers `{"ReservedConcurrentExecutions": 0}`, the setting that throttles every call."""
        response = forward(request)
        if response.status != 200:
            return response
        try:
            answer = response.json_body()
            reserved = _backend(request).get_function(answer["Configuration"]["FunctionName"]).reserved_concurrency
        except Exception:
            return response
        if reserved is not None and int(reserved) == 0 and "Concurrency" not in answer:
            answer["Concurrency"] = {"ReservedConcurrentExecutions": 0}
            response.body = json.dumps(answer).encode()
        return response

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
            _, version = self.concurrency.resolve(backend, name, qualifier)
        except Exception:
            return _error("ResourceNotFoundException", f"Function not found: {latest.function_arn}:{qualifier}", 404)
        key = self.concurrency.key(request, latest, qualifier)
        with self.concurrency.lock:
            self.concurrency.prune(request, backend)
            config = self.concurrency.provisioned.get(key)
            if request.method == "GET":
                if config is None:
                    return _error(
                        "ProvisionedConcurrencyConfigNotFoundException",
                        "No Provisioned Concurrency Config found for this function",
                        404,
                    )
                if version != config.version and version != "$LATEST":  # the alias moved: allocate anew
                    moved_from, config.version = config.version, version
                    self.concurrency.release_warm(key, moved_from)
                    self.concurrency.start_allocation(key, config, backend.get_function(latest.function_name, version))
                return LocalResponse.json(config.shape(), content_type="application/json")
            if request.method == "DELETE":
                if config is None:
                    return _error(
                        "ProvisionedConcurrencyConfigNotFoundException",
                        "No Provisioned Concurrency Config found for this function",
                        404,
                    )
                del self.concurrency.provisioned[key]
                self.concurrency.release_warm(key, config.version)
                self.concurrency.save()
                return LocalResponse(204, b"", {})
            return self.put_provisioned(request, backend, latest, qualifier, version, key, config)

    def put_provisioned(
        self,
        request: LocalRequest,
        backend: Functions,
        latest: LambdaFunction,
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
        others = sum(
            c.requested for k, c in self.concurrency.provisioned.items() if k[2] == latest.function_name and k != key
        )
        if latest.reserved_concurrency is not None and others + wanted > int(latest.reserved_concurrency):
            return _error(
                "InvalidParameterValueException",
                "Requested Provisioned Concurrency should not be "
                "greater than the reservedConcurrentExecution for function",
                400,
            )
        if (
            latest.reserved_concurrency is None
            and self.concurrency.unreserved(backend) + (config.requested if config else 0) - wanted < MIN_UNRESERVED
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
            config = self.concurrency.provisioned[key] = Provisioned(arn, wanted, version)
        previous = config.version
        config.requested, config.version, config.last_modified = wanted, version, lambda_time()
        self.concurrency.release_warm(key, previous)  # what this config kept warm is allocated anew
        self.concurrency.start_allocation(key, config, backend.get_function(latest.function_name, version))
        return LocalResponse.json(config.shape(), status=202, content_type="application/json")

    def list_provisioned(self, request: LocalRequest, backend: Functions, latest: LambdaFunction) -> LocalResponse:
        with self.concurrency.lock:
            self.concurrency.prune(request, backend)
            items = [
                {"FunctionArn": config.function_arn, **config.shape()}
                for key, config in sorted(self.concurrency.provisioned.items())
                if key[:3] == (request.account, request.region, latest.function_name)
            ]
        return LocalResponse.json({"ProvisionedConcurrencyConfigs": items}, content_type="application/json")
