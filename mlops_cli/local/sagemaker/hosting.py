"""Real endpoints in the local AWS: CreateEndpoint/UpdateEndpoint start a local model server, InvokeEndpoint
reaches it, DeleteEndpoint stops it.

moto keeps the record (DescribeEndpoint, ListEndpoints, tags) but marks every endpoint InService at once and
answers InvokeEndpoint with a fixed body; it has no UpdateEndpoint. Here:

- CreateEndpoint: moto records it, the status becomes Creating, and a model server process
  (mlops_cli/local/sagemaker/model_server.py) starts for the configuration's first variant. InService once its /ping
  answers; Failed with a FailureReason when the model cannot be loaded.
- UpdateEndpoint (blue/green, as on AWS): status Updating while the new server starts; the old one keeps
  answering. When the new one is healthy, traffic switches to it, then the old one drains and stops. When
  it fails, the endpoint stays on the old configuration, InService, with a FailureReason. Like AWS, an update
  that would change the instance type of (or remove) a variant registered as a scalable target is refused,
  and RetainAllVariantProperties keeps the instance counts and weights.
- InvokeEndpoint (`POST /endpoints/<name>/invocations`, sagemaker-runtime) is proxied to the serving model
  server; model errors come back in SageMaker runtime's shape (ModelError, 424, with the model's message).
- DeleteEndpoint stops the server and, like AWS, deregisters the endpoint's scalable targets.
  DeregisterScalableTarget also deletes the target's scaling policies, as AWS does (moto keeps them).

Scaling (mlops_cli/local/autoscaling/autoscaler.py) adds and removes model servers behind an endpoint, one per instance,
and spreads requests across them. A model server's output goes
to `server.log` in its work folder and, as on SageMaker, to CloudWatch Logs `/aws/sagemaker/Endpoints/<endpoint>`
(stream `<variant>/<endpoint config>`), where InvokeEndpoint's ModelError points.
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

from mlops_cli.local.autoscaling import alarms as scaling_alarms
from mlops_cli.local.autoscaling.autoscaler import Autoscaler
from mlops_cli.local.core.paths import confined
from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse, ServerContext
from mlops_cli.local.logs.streams import FLUSH_S, LogStream
from mlops_cli.local.sagemaker.model_server import MODEL_DIR, STATUS_FILE

START_TIMEOUT_S = 600.0
INVOKE_TIMEOUT_S = 60.0  # SageMaker's limit for a real-time model response
DRAIN_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@dataclass
class ModelServer:
    """A running model server process and the requests in flight through it."""

    endpoint: str
    config_name: str
    variant: str
    process: subprocess.Popen
    work_dir: Path
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


def _validation(message: str) -> LocalResponse:
    return LocalResponse.aws_error("ValidationException", message)


class Hosting:
    """Endpoint name -> the model server answering for it, and the moto records kept in step."""

    def __init__(self, context: ServerContext):
        self.context = context
        self.lock = threading.RLock()
        self.serving: dict[str, ModelServer] = {}
        self.starting: dict[str, ModelServer] = {}
        self.generation: dict[str, int] = {}  # bumped by create/update/delete: a stale start stops itself
        self.autoscaler = Autoscaler(self)  # more instances under load (mlops_cli/local/autoscaling/autoscaler.py)

    # -- moto's in-process state
    @staticmethod
    def sagemaker(request: LocalRequest) -> Any:
        from mlops_cli.local import moto_compat

        return moto_compat.backend("sagemaker", request.account, request.region)

    @staticmethod
    def autoscaling(request: LocalRequest) -> Any:
        from mlops_cli.local import moto_compat

        return moto_compat.backend("application-autoscaling", request.account, request.region)

    # -- SageMaker control plane
    def create_endpoint(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        name = params.get("EndpointName", "")
        backend = self.sagemaker(request)
        if name in backend.endpoints:
            return _validation(f'Cannot create already existing endpoint "{backend.endpoints[name].arn}".')
        self.work_dir(name, params.get("EndpointConfigName", ""))
        response = forward(request)
        if response.status != 200:
            return response
        with self.lock:
            self._save(request, name, endpoint_status="Creating")
            generation = self._bump(name)
        self._launch(request, name, params["EndpointConfigName"], generation, update=None)
        return response

    def update_endpoint(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        name, config_name = params.get("EndpointName", ""), params.get("EndpointConfigName", "")
        backend = self.sagemaker(request)
        with self.lock:
            endpoint = backend.endpoints.get(name)
            if endpoint is None:
                return _validation(f'Could not find endpoint "{self._arn(request, "endpoint", name)}".')
            new_config = backend.endpoint_configs.get(config_name)
            if new_config is None:
                return _validation(
                    f'Could not find endpoint configuration "{self._arn(request, "endpoint-config", config_name)}".'
                )
            if endpoint.endpoint_status != "InService":
                return _validation(
                    f'Cannot update in-progress endpoint "{endpoint.arn}" (status {endpoint.endpoint_status}).'
                )
            self.work_dir(name, config_name)
            blocked = self._scaling_blocks(request, endpoint, new_config)
            if blocked:
                return _validation(
                    f"The variant(s) [{', '.join(blocked)}] of endpoint {name} are registered as scalable targets "
                    "with Application Auto Scaling; an update may not change their instance type or remove them. "
                    "Deregister them (DeregisterScalableTarget) before updating the endpoint."
                )
            self._save(request, name, endpoint_status="Updating", failure_reason=None, last_modified_time=_now())
            generation = self._bump(name)
        update = {
            "retain": bool(params.get("RetainAllVariantProperties")),
            "exclude": {
                item.get("VariantPropertyType") for item in params.get("ExcludeRetainedVariantProperties") or []
            },
        }
        self._launch(request, name, config_name, generation, update=update)
        return LocalResponse.json({"EndpointArn": endpoint.arn})

    def delete_endpoint(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        name = request.json().get("EndpointName", "")
        response = forward(request)
        if response.status != 200:
            return response
        with self.lock:
            self._bump(name)
            servers = [s for s in (self.serving.pop(name, None), self.starting.pop(name, None)) if s]
            servers += self.autoscaler.forget(name)
            self._deregister_endpoint_scaling(request, name)
        for server in servers:
            threading.Thread(target=server.stop, daemon=True).start()
        return response

    # -- Application Auto Scaling, where AWS does more than moto
    def deregister_scalable_target(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        response = forward(request)
        if response.status == 200:
            params = request.json()
            with self.lock:
                self._delete_policies(request, params.get("ServiceNamespace"), params.get("ResourceId"))
        return response

    def register_scalable_target(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        resource = params.get("ResourceId", "")
        if params.get("ServiceNamespace") == "sagemaker":
            parts = resource.split("/")
            backend = self.sagemaker(request)
            endpoint = backend.endpoints.get(parts[1]) if len(parts) == 4 and parts[0] == "endpoint" else None
            variants = [v["VariantName"] for v in endpoint.production_variants] if endpoint else []
            if endpoint is None or parts[3] not in variants:
                return _validation(
                    f"Unable to register scalable target: resource {resource} does not exist "
                    "(no such endpoint or variant)."
                )
        return forward(request)

    # -- SageMaker runtime
    def invoke_endpoint(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        name = request.path.split("/")[2]
        backend = self.sagemaker(request)
        with self.lock:
            endpoint = backend.endpoints.get(name)
            coming = (
                self.starting.get(name)
                if endpoint is not None and name not in self.serving and endpoint.endpoint_status == "InService"
                else None
            )
        if coming is not None:  # hosted again after a restart: it answers once its model server is up
            coming.ready.wait(INVOKE_TIMEOUT_S)
        with self.lock:
            endpoint = backend.endpoints.get(name)
            server = self.serving.get(name)
            if endpoint is None:
                return _runtime_error("ValidationError", f"Endpoint {name} of account {request.account} not found.")
            if server is None:
                return _runtime_error(
                    "ValidationError", f"Endpoint {endpoint.arn} is {endpoint.endpoint_status} and cannot be invoked."
                )
            server = self.autoscaler.pick(name, server)
            server.acquire()
        started = time.monotonic()
        try:
            if len(request.body) > MAX_PAYLOAD_BYTES:
                return _runtime_error(
                    "ValidationError",
                    f"Request payload of {len(request.body)} bytes is larger "
                    f"than the {MAX_PAYLOAD_BYTES} bytes allowed.",
                    413,
                )
            response = self._proxy(request, server)
            self.autoscaler.record(
                request,
                server,
                time.monotonic() - started,
                json.loads(response.body).get("OriginalStatusCode", 500) if response.status != 200 else 200,
            )
            return response
        finally:
            server.release()

    def _proxy(self, request: LocalRequest, server: ModelServer) -> LocalResponse:
        headers = {
            "Content-Type": request.headers.get("content-type", "application/octet-stream"),
            "Accept": request.headers.get("accept", "*/*"),
        }
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=INVOKE_TIMEOUT_S)
        try:
            connection.request("POST", "/invocations", body=request.body, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
        except TimeoutError:
            return _model_error(
                server, request, 408, "Your invocation timed out while waiting for a response from container primary."
            )
        except OSError as exc:
            return _model_error(server, request, 502, f"the model server is not answering: {exc}")
        finally:
            connection.close()
        if answer.status != 200:
            return _model_error(server, request, answer.status, body.decode("utf-8", "replace"))
        return LocalResponse(
            200,
            body,
            {
                "Content-Type": answer.getheader("Content-Type", "application/json"),
                "x-Amzn-Invoked-Production-Variant": server.variant,
            },
        )

    # -- model servers
    def _launch(
        self, request: LocalRequest, name: str, config_name: str, generation: int, update: dict[str, Any] | None
    ) -> None:
        work_dir = self.work_dir(name, config_name)
        server = self.spawn(request, name, config_name, work_dir)
        with self.lock:
            self.starting[name] = server
        threading.Thread(
            target=self._await_ready,
            args=(request, server, work_dir, generation, update),
            name=f"endpoint-{name}",
            daemon=True,
        ).start()

    def spawn(self, request: LocalRequest, name: str, config_name: str, work_dir: Path) -> ModelServer:
        """Start one model server (one instance) of the configuration's first variant in a fresh work_dir."""
        backend = self.sagemaker(request)
        config = backend.endpoint_configs[config_name]
        variant = config.production_variants[0]
        model = backend._models.get(variant["ModelName"])
        container = model.primary_container if model else {}
        shutil.rmtree(work_dir, ignore_errors=True)
        work_dir.mkdir(parents=True)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlops_cli.local.sagemaker.model_server",
                "--model-data",
                container.get("ModelDataUrl", ""),
                "--s3-endpoint-url",
                self.context.endpoint_url,
                "--work-dir",
                str(work_dir),
            ],
            cwd=work_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            bufsize=0,
            env=self.context.process_env(
                request.region, {**(container.get("Environment") or {}), "PYTHONUNBUFFERED": "1"}
            ),
        )
        server = ModelServer(name, config_name, variant["VariantName"], process, work_dir)
        server.output = threading.Thread(
            target=self._copy_output, args=(request, server), daemon=True, name=f"endpoint-{name}-output"
        )
        server.output.start()
        return server

    def work_dir(self, endpoint: str, config_name: str) -> Path:
        """The model server's folder for this endpoint and configuration; InvalidRequest if the names leave it."""
        return confined(self.context.state_dir / "endpoints", endpoint, config_name)

    def _copy_output(self, request: LocalRequest, server: ModelServer) -> None:
        """The model server's output, line by line, into `server.log` and its CloudWatch stream; a line waits at
        most FLUSH_S to be sent. A logging failure never touches the endpoint."""
        stream: LogStream | None = None
        try:
            stream = LogStream(
                self.context.client("logs", request.region),
                f"/aws/sagemaker/Endpoints/{server.endpoint}",
                f"{server.variant}/{server.config_name}",
            )
        except Exception as exc:  # server.log still gets every line
            print(f"endpoint {server.endpoint}: no CloudWatch log stream: {exc}", file=sys.stderr, flush=True)
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

    def wait_ready(self, server: ModelServer) -> str | None:
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

    def _await_ready(
        self, request: LocalRequest, server: ModelServer, work_dir: Path, generation: int, update: dict[str, Any] | None
    ) -> None:
        failure = self.wait_ready(server)
        try:
            self._settle(request, server, generation, update, failure)
        finally:
            server.ready.set()

    def _settle(
        self,
        request: LocalRequest,
        server: ModelServer,
        generation: int,
        update: dict[str, Any] | None,
        failure: str | None,
    ) -> None:
        with self.lock:
            if self.starting.get(server.endpoint) is server:
                del self.starting[server.endpoint]
            endpoint = self.sagemaker(request).endpoints.get(server.endpoint)
            if self.generation.get(server.endpoint) != generation or endpoint is None:
                stale, previous = server, None  # deleted (or replaced) while starting
            elif failure is not None:
                stale, previous = server, None
                # A failed update leaves the old configuration serving, InService; a failed create (or a failed
                # restart of an endpoint after the local AWS restarted) is Failed.
                self._save(
                    request,
                    server.endpoint,
                    last_modified_time=_now(),
                    endpoint_status="InService" if update and not update.get("restore") else "Failed",
                    failure_reason=(
                        f"The primary container for production variant {server.variant} did "
                        f"not pass the ping health check: {failure}"
                    )[:1024],
                )
            else:
                stale, previous = None, self.serving.get(server.endpoint)
                self.serving[server.endpoint] = server
                if not (update and update.get("restore")):  # a restart changes nothing an API call could see
                    self._record_in_service(request, endpoint, server.config_name, update)
                else:  # ... and every instance the endpoint had comes back
                    desired = next(
                        (
                            int(v.get("DesiredInstanceCount") or 1)
                            for v in endpoint.production_variants
                            if v["VariantName"] == server.variant
                        ),
                        1,
                    )
                    if desired > 1:
                        self.autoscaler.rehost(request, server, desired - 1)
        for done in (stale, previous):
            if done is not None:
                done.stop(drain=done is previous)

    def _record_in_service(
        self, request: LocalRequest, endpoint: Any, config_name: str, update: dict[str, Any] | None
    ) -> None:
        backend = self.sagemaker(request)
        config = backend.endpoint_configs.get(config_name)
        variants = endpoint._process_production_variants(config.production_variants if config else [])
        if update and update["retain"]:
            old = {v["VariantName"]: v for v in endpoint.production_variants}
            kept = {
                "DesiredInstanceCount": ("CurrentInstanceCount", "DesiredInstanceCount"),
                "DesiredWeight": ("CurrentWeight", "DesiredWeight"),
            }
            for variant in variants:
                for prop, keys in kept.items():
                    if variant["VariantName"] in old and prop not in update["exclude"]:
                        for key in keys:
                            if key in old[variant["VariantName"]]:
                                variant[key] = old[variant["VariantName"]][key]
        self._save(
            request,
            endpoint.endpoint_name,
            production_variants=variants,
            endpoint_config_name=config_name,
            endpoint_status="InService",
            failure_reason=None,
            last_modified_time=_now(),
        )

    def _scaling_blocks(self, request: LocalRequest, endpoint: Any, new_config: Any) -> list[str]:
        """Variants that are scalable targets whose instance type the update would change (or that it removes)."""
        backend = self.sagemaker(request)
        old_config = backend.endpoint_configs.get(endpoint.endpoint_config_name)
        old_types = {
            v["VariantName"]: v.get("InstanceType") for v in (old_config.production_variants if old_config else [])
        }
        new_types = {v["VariantName"]: v.get("InstanceType") for v in new_config.production_variants}
        targets = self.autoscaling(request).targets.get(SCALABLE_DIMENSION, {})
        prefix = f"endpoint/{endpoint.endpoint_name}/variant/"
        blocked = []
        for resource in targets:
            if resource.startswith(prefix):
                variant = resource[len(prefix) :]
                if variant not in new_types or new_types[variant] != old_types.get(variant):
                    blocked.append(variant)
        return blocked

    def _deregister_endpoint_scaling(self, request: LocalRequest, name: str) -> None:
        targets = self.autoscaling(request).targets.get(SCALABLE_DIMENSION, {})
        for resource in [r for r in targets if r.startswith(f"endpoint/{name}/variant/")]:
            self.context.store.call(
                "moto.delete",
                {
                    "path": (
                        "application-autoscaling",
                        request.account,
                        request.region,
                        "targets",
                        SCALABLE_DIMENSION,
                        resource,
                    )
                },
            )
            self._delete_policies(request, "sagemaker", resource)

    def _delete_policies(self, request: LocalRequest, namespace: str | None, resource: str | None) -> None:
        policies = self.autoscaling(request).policies
        for key in [k for k, p in policies.items() if p.service_namespace == namespace and p.resource_id == resource]:
            self.context.store.call(
                scaling_alarms.CHANGE,
                {  # AWS deletes a policy's alarms with it
                    "account": request.account,
                    "region": request.region,
                    "resource": resource,
                    "policy": policies[key].policy_name,
                    "target": None,
                },
            )
            self.context.store.call(
                "moto.delete", {"path": ("application-autoscaling", request.account, request.region, "policies", key)}
            )

    def _save(self, request: LocalRequest, name: str, **attributes: Any) -> None:
        self.save_endpoint(request.account, request.region, name, **attributes)

    def save_endpoint(self, account: str, region: str, name: str, **attributes: Any) -> None:
        """Change moto's endpoint record, durably (the local AWS's journal)."""
        self.context.store.call(
            "moto.set", {"path": ("sagemaker", account, region, "endpoints", name), "attributes": attributes}
        )

    def restore(self) -> None:
        """After a restart: endpoints InService (or being created) get their model servers back, as many as the
        variant's journaled DesiredInstanceCount; one whose update was cut off serves its previous configuration
        again, as after a failed update."""
        from mlops_cli.local import moto_compat

        for account, region, backend in moto_compat.backends("sagemaker"):
            request = LocalRequest({}, "POST", "/", {}, {}, b"", "sagemaker", region, "")
            if request.account != account:
                continue
            for name, endpoint in list(backend.endpoints.items()):
                status = endpoint.endpoint_status
                if status not in ("InService", "Creating", "Updating"):
                    continue
                if status == "Updating":
                    self._save(
                        request,
                        name,
                        endpoint_status="InService",
                        last_modified_time=_now(),
                        failure_reason="The update was interrupted: the local AWS restarted.",
                    )
                with self.lock:
                    generation = self._bump(name)
                self._launch(
                    request,
                    name,
                    endpoint.endpoint_config_name,
                    generation,
                    update=None if status == "Creating" else {"restore": True},
                )

    def _bump(self, name: str) -> int:
        self.generation[name] = self.generation.get(name, 0) + 1
        return self.generation[name]

    @staticmethod
    def _arn(request: LocalRequest, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{request.region}:{request.account}:{kind}/{name}"

    def stop_all(self) -> None:
        self.autoscaler.stop_all()
        with self.lock:
            servers = list(self.serving.values()) + list(self.starting.values())
            self.serving.clear()
            self.starting.clear()
        for server in servers:
            server.stop(drain=False)


def _read_status(work_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((work_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _now() -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.utcnow()


def _runtime_error(code: str, message: str, status: int = 400, **fields: Any) -> LocalResponse:
    """An error in SageMaker runtime's REST-JSON shape (botocore reads the code from x-amzn-ErrorType)."""
    return LocalResponse(
        status,
        json.dumps({"ErrorCode": code, "Message": message, **fields}).encode(),
        {"Content-Type": "application/json", "x-amzn-ErrorType": code},
    )


def _model_error(server: ModelServer, request: LocalRequest, status: int, message: str) -> LocalResponse:
    kind = "client" if 400 <= status < 500 else "server"
    log_group = f"/aws/sagemaker/Endpoints/{server.endpoint}"
    return _runtime_error(
        "ModelError",
        f'Received {kind} error ({status}) from primary with message "{message}". See '
        f"https://{request.region}.console.aws.amazon.com/cloudwatch/home?region={request.region}#logEventViewer:"
        f"group={log_group} in account {request.account} for more information.",
        424,
        OriginalStatusCode=status,
        OriginalMessage=message,
        LogStreamArn=f"arn:aws:logs:{request.region}:{request.account}:log-group:{log_group}",
    )
