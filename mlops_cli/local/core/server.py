"""The embedded local AWS: moto's WSGI app behind a middleware that can answer chosen API calls itself.

moto records most calls faithfully but only *records* some (a training job is `Completed` at once, an
endpoint answers with a fixed body) and lacks others (`UpdateEndpoint`, `StopTrainingJob`, provisioned
concurrency). Each emulated service is a package beside this one (`mlops_cli.local.<service>`, laid out like
moto's) whose `routes.register(hooks, context)` registers handlers for exactly those calls; everything else goes
to moto unchanged. Run as `python -m mlops_cli.local.core.server --port N --state-dir DIR` (`mlops local up` does
this).
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from mlops_cli.local.core import credentials as local_credentials
from mlops_cli.local.core import versions
from mlops_cli.local.core.body_digest import body_digest
from mlops_cli.local.core.credentials import LocalCredentials
from mlops_cli.local.core.faults import (
    CONTROL_PATH,
    LOCAL_APP_ID,
    FaultError,
    Faults,
    is_local_work,
    parse_rules,
    rules_from_env,
)
from mlops_cli.local.core.faults import answer as fault_answer
from mlops_cli.local.core.names import NAMED_MEMBERS, InvalidRequest, check_names

HEALTH_PATH = "/_mlops/health"
MOTO_API = "moto-api"  # the first path segment of moto's control API
DEFAULT_ACCOUNT = "123456789012"


@dataclass
class LocalRequest:
    environ: dict[str, Any]
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    service: str  # SigV4 signing name, e.g. "sagemaker", "s3", "lambda"
    region: str
    operation: str  # X-Amz-Target suffix or query Action; "" for REST calls

    @property
    def account(self) -> str:
        return DEFAULT_ACCOUNT

    def json(self) -> Any:
        return json.loads(self.body or b"{}")

    def body_digest(self) -> bytes:
        """The body's SHA-256: the front door's, which read and hashed this very body, else computed here."""
        return body_digest(self.environ, self.body)


@dataclass
class LocalResponse:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, content_type: str = "application/x-amz-json-1.1") -> LocalResponse:
        return cls(status, json.dumps(data, default=str).encode(), {"Content-Type": content_type})

    @classmethod
    def aws_error(cls, code: str, message: str, status: int = 400) -> LocalResponse:
        """An error in the JSON protocols' shape (botocore raises ClientError with this code)."""
        return cls(
            status,
            json.dumps({"__type": code, "message": message}).encode(),
            {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code},
        )

    def json_body(self) -> Any:
        return json.loads(self.body or b"{}")


Forward = Callable[[LocalRequest], LocalResponse]
Handler = Callable[[LocalRequest, Forward], LocalResponse]


@dataclass
class ServerContext:
    """What hooks may need: where to keep state, the server's own URL and credentials (to call local AWS
    themselves, and to hand to the processes they run)."""

    state_dir: Path
    endpoint_url: str
    credentials: LocalCredentials
    shutdown_callbacks: list[Callable[[], None]] = field(default_factory=list)
    store: Any = None  # the DurableStore (mlops_cli.local.core.store) that build_app puts in front of moto
    # The endpoints the sagemaker package serves (sagemaker.hosting.Hosting), which the autoscaling package scales.
    hosting: Any = None

    def on_shutdown(self, callback: Callable[[], None]) -> None:
        self.shutdown_callbacks.append(callback)

    def client(self, service: str, region: str = "us-east-1") -> Any:
        """A boto3 client for this very server (hooks run real local work against local AWS)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint_url,
            config=Config(user_agent_appid=LOCAL_APP_ID),  # its own work: never faulted
            **self.credentials.boto_kwargs(),
        )

    def process_env(self, region: str, variables: Mapping[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a local process (job, model server, function, bootstrap): its `variables`
        on an allow-listed base, with this server as AWS_ENDPOINT_URL and its credentials, none of the caller's."""
        from mlops_cli.local.core.process_env import local_process_env

        aws = local_credentials.process_env(self.endpoint_url, region, self.credentials)
        return local_process_env(aws, variables or {})


class Hooks:
    """The registry, filled the same way by every service package: `operation(service, name, handler)` for the
    JSON and query APIs, `route(method, pattern, handler, service)` for REST paths. Handlers registered for the same
    operation stack in order: each one's `forward` reaches the next, the last one's reaches moto."""

    def __init__(self) -> None:
        self.operations: dict[tuple[str, str], list[Handler]] = {}
        self.routes: list[tuple[str, re.Pattern[str], str | None, Handler]] = []

    def operation(self, service: str, operation: str, handler: Handler) -> None:
        self.operations.setdefault((service, operation), []).append(handler)

    def route(self, method: str, pattern: str, handler: Handler, service: str | None = None) -> None:
        self.routes.append((method.upper(), re.compile(pattern), service, handler))

    def find(self, request: LocalRequest) -> Handler | None:
        if request.operation and (request.service, request.operation) in self.operations:
            return _stacked(self.operations[(request.service, request.operation)])
        for method, pattern, service, handler in self.routes:
            if (
                method == request.method
                and (service is None or service == request.service)
                and pattern.search(request.path)
            ):
                return handler
        return None


def _stacked(handlers: list[Handler]) -> Handler:
    if len(handlers) == 1:
        return handlers[0]
    first, rest = handlers[0], _stacked(handlers[1:])
    return lambda request, forward: first(request, lambda inner: rest(inner, forward))


def _parse(environ: dict[str, Any], body: bytes) -> LocalRequest:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    from mlops_cli.local.core.sigv4 import scope_of

    scope = scope_of(headers, environ.get("QUERY_STRING", ""))  # from the Authorization header or a presigned URL
    region, service = scope or ("us-east-1", "")
    operation = headers.get("x-amz-target", "").rpartition(".")[2]
    if not operation and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        operation = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    return LocalRequest(
        environ,
        environ["REQUEST_METHOD"],
        environ.get("PATH_INFO", "/"),
        parse_qs(environ.get("QUERY_STRING", "")),
        headers,
        body,
        service,
        region,
        operation,
    )


class LocalAwsApp:
    """WSGI middleware: hooked calls are answered here, the rest by moto."""

    def __init__(self, hooks: Hooks, moto_app: Any, gate: Any = None, faults: Faults | None = None):
        self.hooks = hooks
        self.moto_app = moto_app
        self.gate = gate  # mlops_cli.local.core.strict.StrictGate: refuses what AWS refuses before hooks or moto
        self.faults = faults or Faults()  # errors on demand (mlops_cli.local.core.faults), before anything else

    def forward(self, request: LocalRequest) -> LocalResponse:
        environ = dict(request.environ)
        environ["wsgi.input"] = io.BytesIO(request.body)
        environ["CONTENT_LENGTH"] = str(len(request.body))
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured["status"] = int(status.split()[0])
            captured["headers"] = dict(headers)

        chunks = self.moto_app(environ, start_response)
        try:
            body = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return LocalResponse(captured["status"], body, captured["headers"])

    def fault(self, request: LocalRequest) -> LocalResponse | None:
        """The error a fault rule answers this call with, if one strikes it (never the local AWS's own work)."""
        if not self.faults.active or is_local_work(request.headers.get("user-agent", "")):
            return None
        from mlops_cli.local.core.aws_errors import protocol_of, shaped
        from mlops_cli.local.core.validate import operation_of

        called = operation_of(request.environ, request.body, request.service, request.headers)
        rule = self.faults.strike(*called) if called else None
        if rule is None or called is None:
            return None
        protocol = protocol_of(request.service, request.headers, request.path)
        code, status, message = fault_answer(rule, *called, protocol, request.account)
        headers, body = shaped(protocol, code, message, status)
        return LocalResponse(status, body, headers)

    def control_faults(self, request: LocalRequest) -> LocalResponse:
        """CONTROL_PATH: GET the rules and what they struck, PUT new rules (a JSON list), DELETE them all."""
        if request.method == "PUT":
            try:
                self.faults.replace(parse_rules(request.json()))
            except (FaultError, ValueError) as exc:
                return LocalResponse.aws_error("ValidationException", str(exc))
        elif request.method == "DELETE":
            self.faults.replace([])
        elif request.method != "GET":
            return LocalResponse.aws_error("ValidationException", f"{request.method} is not GET, PUT or DELETE", 405)
        return LocalResponse.json(self.faults.report(), content_type="application/json")

    def answer(self, request: LocalRequest) -> LocalResponse:
        """A call a fault rule strikes gets its error; a request AWS would refuse (the strict gate: its service
        model and behaviours), or breaking AWS's name rules, or naming a path outside the state directory, is
        refused."""
        faulted = self.fault(request)
        if faulted is not None:
            return faulted
        refused = (
            self.gate.check(request.environ, request.body, request.service, request.headers) if self.gate else None
        )
        if refused:
            return LocalResponse(*refused)
        try:
            if (request.service, request.operation) in NAMED_MEMBERS:
                check_names(request.service, request.operation, request.json())
            handler = self.hooks.find(request)
            return handler(request, self.forward) if handler else self.forward(request)
        except InvalidRequest as refused:
            return LocalResponse.aws_error(refused.code, str(refused))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            response = LocalResponse.json({"status": "ok", "pid": os.getpid()}, content_type="application/json")
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            request = _parse(environ, body)
            if request.path == CONTROL_PATH:
                response = self.control_faults(request)
            elif request.path.lstrip("/").split("/")[0] == MOTO_API:
                # moto's own control API (reset, seed, state dumps) would change state behind the journal's back,
                # and AWS has no such thing.
                response = LocalResponse.aws_error("NotFound", f"/{MOTO_API} is not part of AWS", 404)
            else:
                response = self.answer(request)
        # A HEAD answer has no body but reports the object's length: keep moto's Content-Length then.
        keep_length = environ.get("REQUEST_METHOD") == "HEAD" and any(
            k.lower() == "content-length" for k in response.headers
        )
        headers = [
            (k, v)
            for k, v in response.headers.items()
            if k.lower() != "transfer-encoding" and (keep_length or k.lower() != "content-length")
        ]
        if not keep_length:
            headers.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {_reason(response.status)}", headers)
        return [response.body]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# The emulated services, in the order their handlers stack (a later package's handler for the same operation runs
# inside an earlier one's): autoscaling acts on the endpoints the sagemaker package hosts.
SERVICES = ("s3", "ec2", "sagemaker", "autoscaling", "lambda_")


def load_hooks(context: ServerContext) -> Hooks:
    """Every service package registers its handlers via `routes.register(hooks, context)`."""
    hooks = Hooks()
    for service in SERVICES:
        importlib.import_module(f"mlops_cli.local.{service}.routes").register(hooks, context)
    return hooks


def build_app(context: ServerContext) -> Any:
    """The hooks, then the durable store (the state kept in the state dir, restored here), then moto, behind the
    front door (mlops_cli.local.core.guard: Host/Origin, size limits, SigV4)."""
    from urllib.parse import urlsplit

    from mlops_cli.local import moto_compat
    from mlops_cli.local.core.guard import Guard
    from mlops_cli.local.core.store import DurableStore, journaling_enabled
    from mlops_cli.local.core.strict import gate_from_env

    context.store = DurableStore(context.state_dir / "durable", moto_compat.server_app(), enabled=journaling_enabled())
    hooks = load_hooks(context)
    context.store.recover()
    address = urlsplit(context.endpoint_url)
    return Guard(
        LocalAwsApp(hooks, context.store, gate_from_env(), Faults(rules_from_env())),
        context.credentials,
        str(address.hostname),
        int(address.port or 80),
        open_paths=(HEALTH_PATH,),
        home=str(local_credentials.home_of(context.state_dir)),
    )


def serve(host: str, port: int, state_dir: Path, credentials_file: Path, log_file: Path | None = None) -> None:
    problem = versions.mismatch()  # before moto is imported: another moto may not even import the same way
    if problem:
        raise SystemExit(problem)
    from mlops_cli.local import moto_compat
    from mlops_cli.local.core.connections import ConnectionLimits, make_bounded_server
    from mlops_cli.local.core.store import StateUnreadable

    os.umask(0o077)  # everything the local AWS and what it runs write (state, logs, job folders) is owner-only
    if log_file is not None:
        from mlops_cli.local.core.serverlog import rotate_output

        rotate_output(log_file)
    try:
        limits = ConnectionLimits.from_env()
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    credentials = local_credentials.read(credentials_file)
    if credentials is None:
        raise SystemExit(f"no credentials in {credentials_file} (`mlops local up` writes them)")
    context = ServerContext(state_dir=state_dir, endpoint_url=f"http://{host}:{port}", credentials=credentials)
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        app = build_app(context)
    except (FaultError, StateUnreadable) as exc:  # one line in the log, which `local up` quotes
        raise SystemExit(str(exc)) from None
    server = make_bounded_server(host, port, app, moto_compat.server_request_handler(), limits)

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"mlops local AWS listening on {context.endpoint_url}", flush=True)
    # Resuming restarts the restored endpoints' model servers, which take sessions of their execution roles from
    # this server's own STS: it must be answering by then, so resuming runs beside it.
    threading.Thread(target=context.store.resume, name="local-aws-resume", daemon=True).start()
    try:
        server.serve_forever()
    finally:
        for callback in reversed(context.shutdown_callbacks):
            try:
                callback()
            except Exception as exc:  # one failing cleanup must not keep the others from running
                print(f"shutdown callback failed: {exc}", file=sys.stderr, flush=True)
        context.store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument(
        "--credentials-file",
        type=Path,
        required=True,
        help="JSON with aws_access_key_id and aws_secret_access_key: the only keys accepted",
    )
    parser.add_argument("--log-file", type=Path, help="where stdout and stderr go, rotated (the server's log)")
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.state_dir, args.credentials_file, args.log_file)


if __name__ == "__main__":
    main()
