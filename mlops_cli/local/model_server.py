"""One local "inference container": serves a model.tar.gz the way the SageMaker PyTorch container does.

Run by the local AWS (hooks/hosting.py) as
`python -m mlops_cli.local.model_server --model-data s3://… --s3-endpoint-url URL --work-dir DIR`:
downloads `model.tar.gz` from (local) S3, extracts it (tarfile filter "data") into `DIR/model`, puts the
submit directory (`SAGEMAKER_SUBMIT_DIRECTORY`, `/opt/ml/model/…` mapped to `DIR/model/…`) first on
sys.path, imports `SAGEMAKER_PROGRAM` and calls its `model_fn(model_dir)` once. Then it serves
`GET /ping` and `POST /invocations` (input_fn -> predict_fn -> output_fn) on a free loopback port with a
threaded HTTP server, and writes `DIR/server.json` = {"port", "pid"}. If anything before that fails it
writes {"error": one line} there instead and exits 1. SIGTERM stops accepting, finishes the requests in
flight and exits.

Errors while serving: an exception carrying an HTTP `status` from 400 to 499 (model.inference's
InferenceInputError) is answered with that status and {"error": message}; anything else is a 500 with a
generic message (the traceback goes to the log, never into the response).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import tarfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mlops_cli.local.names import InvalidRequest
from mlops_cli.local.paths import confined

CONTAINER_MODEL_DIR = "/opt/ml/model"
STATUS_FILE = "server.json"
MODEL_DIR = "opt_ml_model"  # under the work dir: what the container has at /opt/ml/model
DEFAULT_ACCEPT = "application/json"
MAX_BODY_BYTES = 6 * 1024 * 1024  # what SageMaker real-time endpoints accept


MAX_REASON_CHARS = 400


class LoadError(Exception):
    """The model could not be made ready; the message is the endpoint's failure reason."""


def describe(exc: BaseException) -> str:
    """`Type: message` on one line, cut to MAX_REASON_CHARS (the log has the whole traceback)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 1] + "…"


def write_status(work_dir: Path, status: dict[str, Any]) -> None:
    temporary = work_dir / f".{STATUS_FILE}.tmp"
    temporary.write_text(json.dumps(status))
    os.replace(temporary, work_dir / STATUS_FILE)


def download(model_data: str, endpoint_url: str, destination: Path) -> None:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    if not model_data.startswith("s3://") or "/" not in model_data[5:]:
        raise LoadError(f"ModelDataUrl {model_data!r} is not an s3://bucket/key URI")
    bucket, key = model_data[5:].split("/", 1)
    # Credentials from the environment: the local AWS gives its model servers its own (ServerContext.process_env).
    s3 = boto3.client("s3", region_name=os.environ.get("AWS_REGION", "us-east-1"), endpoint_url=endpoint_url)
    try:
        s3.download_file(bucket, key, str(destination))
    except (ClientError, BotoCoreError) as exc:
        raise LoadError(f"could not download the model data {model_data}: {describe(exc)}") from None


def extract(archive: Path, model_dir: Path) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(model_dir, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise LoadError(f"the model data is not a readable tar.gz archive: {describe(exc)}") from None


def load_handlers(model_dir: Path, environment: dict[str, str]) -> Any:
    """Import the inference script like the SageMaker PyTorch container (SAGEMAKER_PROGRAM in the submit dir)."""
    program = environment.get("SAGEMAKER_PROGRAM", "inference.py")
    submit = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", f"{CONTAINER_MODEL_DIR}/code")
    if not submit.startswith(CONTAINER_MODEL_DIR):
        raise LoadError(f"SAGEMAKER_SUBMIT_DIRECTORY {submit!r} is not inside {CONTAINER_MODEL_DIR}; the local "
                        "endpoint serves handlers packed in model.tar.gz only")
    relative = submit[len(CONTAINER_MODEL_DIR):].strip("/")
    try:  # the handlers come from the model archive, never from elsewhere on this machine
        code_dir = confined(model_dir, relative) if relative else model_dir
        entry = confined(code_dir, program)
    except InvalidRequest:
        raise LoadError(f"SAGEMAKER_SUBMIT_DIRECTORY {submit!r} with SAGEMAKER_PROGRAM {program!r} leaves "
                        f"{CONTAINER_MODEL_DIR}") from None
    if not entry.is_file():
        raise LoadError(f"the model archive has no {Path(submit, program)} (SAGEMAKER_PROGRAM={program})")
    sys.path.insert(0, str(code_dir))
    try:
        module = importlib.import_module(Path(program).stem)
    except Exception as exc:
        traceback.print_exc()
        raise LoadError(f"importing {program} failed: {describe(exc)}") from None
    missing = [name for name in ("model_fn", "input_fn", "predict_fn", "output_fn") if not hasattr(module, name)]
    if missing:
        raise LoadError(f"{program} does not define {', '.join(missing)}")
    return module


class InferenceService:
    def __init__(self, handlers: Any, model: Any, default_accept: str):
        self.handlers = handlers
        self.model = model
        self.default_accept = default_accept

    def transform(self, body: bytes, content_type: str | None, accept: str | None) -> tuple[bytes, str]:
        if not accept or accept == "*/*":  # the toolkit's rule: no preference means the default accept type
            accept = self.default_accept
        data = self.handlers.input_fn(body, content_type)
        prediction = self.handlers.predict_fn(data, self.model)
        result = self.handlers.output_fn(prediction, accept)
        response, response_type = result if isinstance(result, tuple) else (result, accept)
        return (response.encode("utf-8") if isinstance(response, str) else bytes(response)), response_type


def client_error_status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and 400 <= status < 500 else None


class Handler(BaseHTTPRequestHandler):
    service: InferenceService  # set on the server's handler subclass
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/ping":
            self._send(200, b"", "text/plain")
        else:
            self._send_json(404, {"error": f"no such path: {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/invocations":
            self._send_json(404, {"error": f"no such path: {self.path}"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_json(413, {"error": f"request body is {length} bytes; the limit is {MAX_BODY_BYTES}"})
            return
        body = self.rfile.read(length)
        try:
            response, content_type = self.service.transform(body, self.headers.get("Content-Type"),
                                                            self.headers.get("Accept"))
        except Exception as exc:
            status = client_error_status(exc)
            if status is None:
                traceback.print_exc()
                self._send_json(500, {"error": "the model failed on this request (see the endpoint's log)"})
            else:
                self._send_json(status, {"error": str(exc)})
            return
        self._send(200, response, content_type)

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        print(f"{self.address_string()} {format % args}", file=sys.stderr, flush=True)


def prepare(model_data: str, endpoint_url: str, work_dir: Path) -> InferenceService:
    environment = dict(os.environ)
    archive = work_dir / "model.tar.gz"
    model_dir = work_dir / MODEL_DIR
    download(model_data, endpoint_url, archive)
    extract(archive, model_dir)
    archive.unlink()
    handlers = load_handlers(model_dir, environment)
    try:
        model = handlers.model_fn(str(model_dir))
    except Exception as exc:
        traceback.print_exc()
        raise LoadError(f"model_fn failed: {describe(exc)}") from None
    return InferenceService(handlers, model, environment.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", DEFAULT_ACCEPT))


def serve(service: InferenceService, work_dir: Path) -> None:
    handler = type("BoundHandler", (Handler,), {"service": service})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = False  # server_close() waits for requests in flight
    server.block_on_close = True

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=_exit_with_parent, args=(server,), daemon=True).start()
    write_status(work_dir, {"port": server.server_address[1], "pid": os.getpid()})
    print(f"serving on 127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _exit_with_parent(server: ThreadingHTTPServer) -> None:
    """A model server outlives no local AWS: if that process dies (even by SIGKILL), stop serving."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1.0)
    server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-data", required=True)
    parser.add_argument("--s3-endpoint-url", required=True)
    parser.add_argument("--work-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    try:
        service = prepare(args.model_data, args.s3_endpoint_url, args.work_dir)
    except LoadError as exc:
        print(f"model server failed: {exc}", file=sys.stderr, flush=True)
        write_status(args.work_dir, {"error": str(exc)})
        return 1
    serve(service, args.work_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
