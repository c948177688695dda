"""Model server processes: one per endpoint instance (or batch transform instance), started, watched until it
answers /ping, drained and stopped.

A model server (mlops_cli/local/sagemaker/model_server.py) serves one variant of an endpoint configuration (or a
transform job's model) from its own work folder. Its output goes to `server.log` in that folder and, as on
SageMaker, to CloudWatch Logs: `/aws/sagemaker/Endpoints/<endpoint>` (stream `<variant>/<endpoint config>`), where
InvokeEndpoint's ModelError points, or `/aws/sagemaker/TransformJobs` (stream `<job>/<instance>`).
"""

from __future__ import annotations

import http.client
import json
import select
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.local.core.paths import confined
from mlops_cli.local.core.server import LocalRequest, ServerContext
from mlops_cli.local.iam.sessions import role_env
from mlops_cli.local.logs.streams import FLUSH_S, LogStream
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.model_server import MODEL_DIR, STATUS_FILE

START_TIMEOUT_S = 600.0
DRAIN_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass
class ModelServer:
    """A running model server process and the requests in flight through it."""

    endpoint: str  # the endpoint it serves (a transform job's name for a batch transform instance)
    config_name: str
    variant: str
    process: subprocess.Popen
    work_dir: Path
    log_group: str = ""  # where its output goes in CloudWatch Logs
    log_stream: str = ""
    output: threading.Thread | None = None  # copies the process's output to server.log and CloudWatch
    port: int = 0
    in_flight: int = 0
    condition: threading.Condition = field(default_factory=threading.Condition)
    ready: threading.Event = field(default_factory=threading.Event)  # set when it serves, or failed to start

    def acquire(self) -> None:
        with self.condition:
            self.in_flight += 1

    def release(self) -> None:
        with self.condition:
            self.in_flight -= 1
            self.condition.notify_all()

    def stop(self, drain: bool = True) -> None:
        """Wait for requests in flight (up to DRAIN_TIMEOUT_S), then SIGTERM (SIGKILL if it lingers); the
        extracted model goes, the log stays."""
        if drain:
            with self.condition:
                self.condition.wait_for(lambda: self.in_flight == 0, timeout=DRAIN_TIMEOUT_S)
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.work_dir / MODEL_DIR, ignore_errors=True)


def _ping(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def _last_line(log_file: Path) -> str:
    try:
        lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1].strip() if lines else "no output"


def _read_status(work_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((work_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def work_folder(context: ServerContext, endpoint: str, config_name: str) -> Path:
    """The model server's folder for this endpoint and configuration; InvalidRequest if the names leave it."""
    return confined(context.state_dir / "endpoints", endpoint, config_name)


def spawn(context: ServerContext, request: LocalRequest, name: str, config_name: str, work_dir: Path) -> ModelServer:
    """Start one model server (one instance) of the configuration's first variant in a fresh work_dir."""
    config = records.endpoint_config(request.account, request.region, config_name)
    if config is None:  # deleted since the endpoint named it
        raise KeyError(f"no endpoint configuration {config_name}")
    variant = config.production_variants[0]
    model = records.model(request.account, request.region, variant["ModelName"])
    server = ModelServer(
        name,
        config_name,
        variant["VariantName"],
        start_process(
            context,
            request,
            model.primary_container if model else {},
            work_dir,
            role_arn=getattr(model, "execution_role_arn", None),
            session_name=name,
        ),
        work_dir,
        log_group=f"/aws/sagemaker/Endpoints/{name}",
        log_stream=f"{variant['VariantName']}/{config_name}",
    )
    copy_output(context, request, server)
    return server


def start_process(
    context: ServerContext,
    request: LocalRequest,
    container: dict[str, Any],
    work_dir: Path,
    environment: dict[str, str] | None = None,
    *,
    role_arn: str | None,
    session_name: str,
) -> subprocess.Popen:
    """A model server process for a model's primary container (its environment, plus `environment`) in a fresh
    work_dir, acting with the model's execution role `role_arn` (a session named `session_name`)."""
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    variables = {**(container.get("Environment") or {}), **(environment or {}), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_cli.local.sagemaker.model_server",
            "--model-data",
            container.get("ModelDataUrl", ""),
            "--s3-endpoint-url",
            context.endpoint_url,
            "--work-dir",
            str(work_dir),
        ],
        cwd=work_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        bufsize=0,
        env={
            **context.process_env(request.region, variables),
            **role_env(context, role_arn, session_name, request.region),  # the model's execution role
        },
    )


def copy_output(context: ServerContext, request: LocalRequest, server: ModelServer) -> None:
    """Start copying the server's output to server.log and its log stream, in a thread of its own."""
    server.output = threading.Thread(
        target=_copy_output, args=(context, request, server), daemon=True, name=f"model-server-{server.endpoint}"
    )
    server.output.start()


def _copy_output(context: ServerContext, request: LocalRequest, server: ModelServer) -> None:
    """The model server's output, line by line, into `server.log` and its CloudWatch stream; a line waits at
    most FLUSH_S to be sent. A logging failure never touches the endpoint."""
    stream: LogStream | None = None
    try:
        stream = LogStream(context.client("logs", request.region), server.log_group, server.log_stream)
    except Exception as exc:  # server.log still gets every line
        print(f"{server.log_group}: no CloudWatch log stream: {exc}", file=sys.stderr, flush=True)
    pipe = server.process.stdout
    assert pipe is not None
    with open(server.work_dir / "server.log", "ab") as log:
        while True:
            if not select.select([pipe], [], [], FLUSH_S)[0]:  # quiet for a while: send what is pending
                if stream:
                    stream.flush()
                continue
            line = pipe.readline()  # unbuffered pipe: select() sees every byte not read yet
            if not line:
                break
            log.write(line)
            log.flush()
            if stream:
                stream.write(line.decode("utf-8", "replace").rstrip("\r\n"))
    if stream:
        stream.flush()


def wait_ready(server: ModelServer) -> str | None:
    """Until the server answers /ping (None) or cannot (why not)."""
    work_dir = server.work_dir
    failure = None
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        status = _read_status(work_dir)
        if "error" in status:
            failure = status["error"]
        elif "port" in status and _ping(status["port"]):
            server.port = status["port"]
        elif server.process.poll() is not None:
            if server.output is not None:
                server.output.join(timeout=5)  # its last lines say why
            failure = f"the model server exited ({_last_line(work_dir / 'server.log')})"
        elif time.monotonic() > deadline:
            failure = f"the model server was not healthy within {START_TIMEOUT_S:.0f} s"
        else:
            time.sleep(0.2)
            continue
        break
    return failure
