"""One local "inference container": serves a model.tar.gz the way the SageMaker PyTorch container does.

Run by the local AWS (sagemaker/hosting.py) as
`python -m mlops_cli.local.sagemaker.model_server --model-data s3://… --s3-endpoint-url URL --work-dir DIR`:
downloads `model.tar.gz` from (local) S3, extracts it (every member checked: mlops_cli.local.core.archives)
into `DIR/model`, puts the submit directory (`SAGEMAKER_SUBMIT_DIRECTORY`, `/opt/ml/model/…` mapped to
`DIR/model/…`) first on sys.path, imports `SAGEMAKER_PROGRAM` and calls its `model_fn(model_dir)` once. Then it serves
`GET /ping` and `POST /invocations` (input_fn -> predict_fn -> output_fn) on a free loopback port with a
threaded HTTP server, and writes `DIR/server.json` = {"port", "pid", "workers"}. With `--model-dir DIR` instead
of `--model-data`, it serves an already extracted model directory (benchmarks, tests). If anything before that fails it
writes {"error": one line} there instead and exits 1. SIGTERM stops accepting, finishes the requests in
flight and exits.

Like the SageMaker PyTorch container, requests run through the SageMaker inference toolkit's Transformer
(`sagemaker_inference`, the very code that calls the handlers on AWS), on a fixed pool of workers
(SAGEMAKER_MODEL_SERVER_WORKERS, default: one per core) behind a bounded queue, as TorchServe does:

- a handler's error is answered exactly as the toolkit answers it: its status (400-499 for the handlers'
  InferenceInputError, 500 for anything else), the reason phrase it sets, no Content-Type, and the body
  "<message>\n<traceback>";
- when the queue already holds MAX_WAITING_JOBS jobs (TorchServe's default job_queue_size) or
  MAX_WAITING_BYTES of request bodies, or MAX_CONNECTIONS connections are open, the answer is TorchServe's
  503 ServiceUnavailableException JSON; SageMaker passes it on as a ModelError (503) and the client retries;
- a body over MAX_BODY_BYTES is refused with 413 before it is read.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from mlops_cli.local.core.archives import UnsafeArchive, extract_tar
from mlops_cli.local.core.names import InvalidRequest
from mlops_cli.local.core.paths import confined
from mlops_cli.local.sagemaker.worker_pool import QueueFull, WorkerPool

CONTAINER_MODEL_DIR = "/opt/ml/model"
STATUS_FILE = "server.json"
MODEL_DIR = "opt_ml_model"  # under the work dir: what the container has at /opt/ml/model
MAX_BODY_BYTES = 6 * 1024 * 1024  # what SageMaker real-time endpoints accept
WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
MAX_WAITING_JOBS = 100  # TorchServe's default job_queue_size
MAX_WAITING_BYTES = 64 * 1024 * 1024  # request bodies waiting for a worker
MAX_CONNECTIONS = 256


MAX_REASON_CHARS = 400


class LoadError(Exception):
    """The model could not be made ready; the message is the endpoint's failure reason."""


def describe(exc: BaseException) -> str:
    """`Type: message` on one line, cut to MAX_REASON_CHARS (the log has the whole traceback)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


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


def extract(archive: Path, model_dir: Path, model_data: str = "") -> None:
    """The archive into `model_dir` (made here, owner-only), every member checked (mlops_cli.local.core.archives);
    a refusal is SageMaker's failure reason for an archive it cannot extract, with what was wrong."""
    try:
        extract_tar(archive, model_dir)
    except UnsafeArchive as exc:
        raise LoadError(
            f'Failed to extract model data archive from URL "{model_data or archive.name}". Please ensure that the '
            f"object located at the URL is a valid tar.gz archive: {exc}"
        ) from None


def load_handlers(model_dir: Path, environment: dict[str, str]) -> Any:
    """Import the inference script like the SageMaker PyTorch container (SAGEMAKER_PROGRAM in the submit dir)."""
    program = environment.get("SAGEMAKER_PROGRAM", "inference.py")
    submit = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", f"{CONTAINER_MODEL_DIR}/code")
    if not submit.startswith(CONTAINER_MODEL_DIR):
        raise LoadError(
            f"SAGEMAKER_SUBMIT_DIRECTORY {submit!r} is not inside {CONTAINER_MODEL_DIR}; the local "
            "endpoint serves handlers packed in model.tar.gz only"
        )
    relative = submit[len(CONTAINER_MODEL_DIR) :].strip("/")
    try:  # the handlers come from the model archive, never from elsewhere on this machine
        code_dir = confined(model_dir, relative) if relative else model_dir
        entry = confined(code_dir, program)
    except InvalidRequest:
        raise LoadError(
            f"SAGEMAKER_SUBMIT_DIRECTORY {submit!r} with SAGEMAKER_PROGRAM {program!r} leaves {CONTAINER_MODEL_DIR}"
        ) from None
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


class RequestProcessor:
    """The part of TorchServe's request context the toolkit reads: the request's headers."""

    def __init__(self, headers: dict[str, str]):
        self.headers = headers

    def get_request_properties(self) -> dict[str, str]:
        return self.headers


class ToolkitContext:
    """What TorchServe hands the toolkit with each request; it collects the status and content type set."""

    def __init__(self, model_dir: Path, headers: dict[str, str]):
        self.system_properties = {"model_dir": str(model_dir)}
        self.request_processor = [RequestProcessor(headers)]
        self.status = 200
        self.phrase: str | None = None
        self.content_type: str | None = None

    def set_response_status(self, code: int, phrase: str) -> None:
        self.status, self.phrase = code, phrase

    def set_response_content_type(self, _index: int, content_type: str) -> None:
        self.content_type = content_type


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str | None
    phrase: str | None = None


class InferenceService:
    """The toolkit's Transformer over the imported handlers, initialised (model_fn) once."""

    def __init__(self, model_dir: Path):
        from sagemaker_inference.transformer import Transformer

        self.model_dir = model_dir
        self.transformer = Transformer()
        self.transformer.validate_and_initialize(str(model_dir), ToolkitContext(model_dir, {}))

    def invoke(self, body: bytes, headers: dict[str, str]) -> Answer:
        context = ToolkitContext(self.model_dir, headers)
        response = self.transformer.transform([{"body": body}], context)[0]
        if isinstance(response, str):  # TorchServe sends text as UTF-8, other objects as JSON
            response = response.encode("utf-8")
        elif not isinstance(response, (bytes, bytearray)):
            response = json.dumps(response).encode()
        return Answer(context.status, bytes(response), context.content_type, context.phrase)


def torchserve_error(status: int, kind: str, message: str) -> Answer:
    """An error of TorchServe's own (not the handlers'): its JSON shape."""
    body = json.dumps({"code": status, "type": kind, "message": message}, indent=2).encode()
    return Answer(status, body, "application/json")


def server_busy() -> Answer:
    return torchserve_error(
        503,
        "ServiceUnavailableException",
        'Model "model" has no worker to serve inference request. Please use scale workers API to add workers.',
    )


def worker_count(environment: dict[str, str]) -> int:
    """SAGEMAKER_MODEL_SERVER_WORKERS as the SageMaker container reads it, else one worker per core."""
    workers = environment.get(WORKERS_ENV, "").strip()
    if workers.isdigit() and int(workers) > 0:
        return int(workers)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Handler(BaseHTTPRequestHandler):
    service: InferenceService  # set on the server's handler subclass
    pool: WorkerPool
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/ping":
            self._answer(Answer(200, json.dumps({"status": "Healthy"}, indent=2).encode(), "application/json"))
        else:
            self._answer(_not_found())

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/invocations":
            self._answer(_not_found())
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read
            self._answer(
                torchserve_error(
                    413, "RequestEntityTooLarge", f"request body is {length} bytes; the limit is {MAX_BODY_BYTES}"
                )
            )
            return
        try:
            job = self.pool.admit(length)  # before the body is read: waiting bodies are bounded
        except QueueFull:
            self._drain(length)  # read and dropped, so the client gets the answer rather than a reset
            self._answer(server_busy())
            return
        try:
            body = self.rfile.read(length)
        except OSError:
            self.pool.cancel(job)
            raise
        headers = dict(self.headers.items())
        answer = self.pool.run(job, lambda: self.service.invoke(body, headers))
        if answer.status >= 500:
            print(answer.body.decode("utf-8", "replace"), file=sys.stderr, flush=True)
        self._answer(answer)

    def _drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 64 * 1024))
            if not chunk:
                break
            length -= len(chunk)

    def _answer(self, answer: Answer) -> None:
        self.send_response(answer.status, answer.phrase)
        if answer.content_type:
            self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        print(f"{self.address_string()} {format % args}", file=sys.stderr, flush=True)


def _not_found() -> Answer:
    return torchserve_error(
        404, "ResourceNotFoundException", "Requested resource is not found, please refer to API document."
    )


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them; beyond, a 503 and the connection is closed."""

    daemon_threads = False  # server_close() waits for requests in flight
    block_on_close = True
    request_queue_size = 128  # the listen backlog: a burst of connections waits for accept() rather than a reset

    def __init__(self, address: tuple[str, int], handler: type[Handler], max_connections: int = MAX_CONNECTIONS):
        super().__init__(address, handler)
        self.connections = threading.BoundedSemaphore(max_connections)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connections.acquire(blocking=False):
            answer = server_busy()
            try:
                request.settimeout(1.0)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(answer.body), answer.body)
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release()


def prepare(model_data: str, endpoint_url: str, work_dir: Path) -> InferenceService:
    archive = work_dir / "model.tar.gz"
    model_dir = work_dir / MODEL_DIR
    download(model_data, endpoint_url, archive)
    extract(archive, model_dir, model_data)
    archive.unlink()
    return load_service(model_dir)


def load_service(model_dir: Path) -> InferenceService:
    """Import the handlers and run model_fn through the toolkit, as the container does before its first ping."""
    load_handlers(model_dir, dict(os.environ))
    try:
        return InferenceService(model_dir)
    except Exception as exc:
        traceback.print_exc()
        raise LoadError(f"model_fn failed: {describe(exc)}") from None


def serve(
    service: InferenceService,
    work_dir: Path,
    workers: int,
    max_waiting_jobs: int = MAX_WAITING_JOBS,
    max_connections: int = MAX_CONNECTIONS,
) -> None:
    pool = WorkerPool(workers, max_waiting_jobs, MAX_WAITING_BYTES, name="model-worker")
    handler = type("BoundHandler", (Handler,), {"service": service, "pool": pool})
    server = BoundedHTTPServer(("127.0.0.1", 0), handler, max_connections)

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=_exit_with_parent, args=(server,), daemon=True).start()
    write_status(work_dir, {"port": server.server_address[1], "pid": os.getpid(), "workers": pool.workers})
    print(f"serving on 127.0.0.1:{server.server_address[1]} with {pool.workers} workers", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        pool.close()


def _exit_with_parent(server: ThreadingHTTPServer) -> None:
    """A model server outlives no local AWS: if that process dies (even by SIGKILL), stop serving."""
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1.0)
    server.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-data", help="s3:// URI of the model.tar.gz (with --s3-endpoint-url)")
    source.add_argument("--model-dir", type=Path, help="an extracted model directory, served as it is")
    parser.add_argument("--s3-endpoint-url")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=worker_count(dict(os.environ)))
    parser.add_argument("--max-waiting-jobs", type=int, default=MAX_WAITING_JOBS)
    parser.add_argument("--max-connections", type=int, default=MAX_CONNECTIONS)
    args = parser.parse_args(argv)
    if args.model_data and not args.s3_endpoint_url:
        parser.error("--model-data needs --s3-endpoint-url")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    try:
        service = (
            load_service(args.model_dir)
            if args.model_dir
            else prepare(args.model_data, args.s3_endpoint_url, args.work_dir)
        )
    except LoadError as exc:
        print(f"model server failed: {exc}", file=sys.stderr, flush=True)
        write_status(args.work_dir, {"error": str(exc)})
        return 1
    serve(service, args.work_dir, args.workers, args.max_waiting_jobs, args.max_connections)
    return 0


if __name__ == "__main__":
    sys.exit(main())
