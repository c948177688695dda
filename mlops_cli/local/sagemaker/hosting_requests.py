"""The SageMaker requests about endpoints as the local AWS answers them: CreateEndpoint, UpdateEndpoint and
DeleteEndpoint (moto keeps the records; hosting.py starts and stops the model servers), and InvokeEndpoint.

- CreateEndpoint: moto records it, the status becomes Creating, and a model server process starts for the
  configuration's first variant. InService once its /ping answers; Failed with a FailureReason when the model
  cannot be loaded.
- UpdateEndpoint (blue/green, as on AWS): status Updating while the new server starts; the old one keeps
  answering. When the new one is healthy, traffic switches to it, then the old one drains and stops. When
  it fails, the endpoint stays on the old configuration, InService, with a FailureReason. Like AWS, an update
  that would change the instance type of (or remove) a variant registered as a scalable target is refused,
  and RetainAllVariantProperties keeps the instance counts and weights.
- InvokeEndpoint (`POST /endpoints/<name>/invocations`, sagemaker-runtime) is proxied to a serving model
  server; model errors come back in SageMaker runtime's shape (ModelError, 424, with the model's message).
- DeleteEndpoint stops the servers and, like AWS, deregisters the endpoint's scalable targets.
- A serverless endpoint scaled to zero gets its model server back on the next InvokeEndpoint, and invocations over
  its MaxConcurrency are throttled (ThrottlingException, 429) (serverless.py).
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

from mlops_cli.local.autoscaling.endpoint_targets import blocking_variants, deregister_endpoint_targets
from mlops_cli.local.core.process_env import check_endpoints
from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.endpoints import save_endpoint
from mlops_cli.local.sagemaker.hosting import Hosting
from mlops_cli.local.sagemaker.hosting_runner import ModelServer, work_folder
from mlops_cli.local.sagemaker.records import utcnow
from mlops_cli.local.sagemaker.traffic_shift import check_deployment, deployment_attributes

INVOKE_TIMEOUT_S = 60.0  # SageMaker's limit for a real-time model response
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


def _validation(message: str) -> LocalResponse:
    return LocalResponse.aws_error("ValidationException", message)


def _arn(request: LocalRequest, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{request.region}:{request.account}:{kind}/{name}"


class EndpointRequests:
    """The endpoint requests, answered for the endpoints `hosting` serves."""

    def __init__(self, hosting: Hosting):
        self.hosting = hosting
        self.context = hosting.context

    def create_endpoint(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        name = params.get("EndpointName", "")
        existing = records.endpoint(request.account, request.region, name)
        if existing is not None:
            return _validation(f'Cannot create already existing endpoint "{existing.arn}".')
        work_folder(self.context, name, params.get("EndpointConfigName", ""))
        response = forward(request)
        if response.status != 200:
            return response
        with self.hosting.lock:
            save_endpoint(self.context, request.account, request.region, name, endpoint_status="Creating")
            generation = self.hosting.bump(name)
        self.hosting.launch(request, name, params["EndpointConfigName"], generation, update=None)
        return response

    def update_endpoint(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        name, config_name = params.get("EndpointName", ""), params.get("EndpointConfigName", "")
        with self.hosting.lock:
            endpoint = records.endpoint(request.account, request.region, name)
            if endpoint is None:
                return _validation(f'Could not find endpoint "{_arn(request, "endpoint", name)}".')
            new_config = records.endpoint_config(request.account, request.region, config_name)
            if new_config is None:
                return _validation(
                    f'Could not find endpoint configuration "{_arn(request, "endpoint-config", config_name)}".'
                )
            if endpoint.endpoint_status != "InService":
                return _validation(
                    f'Cannot update in-progress endpoint "{endpoint.arn}" (status {endpoint.endpoint_status}).'
                )
            work_folder(self.context, name, config_name)
            blocked = blocking_variants(request, endpoint, new_config)
            if blocked:
                return _validation(
                    f"The variant(s) [{', '.join(blocked)}] of endpoint {name} are registered as scalable targets "
                    "with Application Auto Scaling; an update may not change their instance type or remove them. "
                    "Deregister them (DeregisterScalableTarget) before updating the endpoint."
                )
            deployment = params.get("DeploymentConfig")
            refused = check_deployment(request, new_config, deployment)
            if refused:
                return _validation(refused)
            save_endpoint(
                self.context,
                request.account,
                request.region,
                name,
                endpoint_status="Updating",
                failure_reason=None,
                last_modified_time=utcnow(),
                **deployment_attributes(new_config, deployment),
            )
            generation = self.hosting.bump(name)
        update = {
            "retain": bool(params.get("RetainAllVariantProperties")),
            "exclude": {
                item.get("VariantPropertyType") for item in params.get("ExcludeRetainedVariantProperties") or []
            },
            "deployment": deployment,
        }
        self.hosting.launch(request, name, config_name, generation, update=update)
        return LocalResponse.json({"EndpointArn": endpoint.arn})

    def delete_endpoint(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        name = request.json().get("EndpointName", "")
        response = forward(request)
        if response.status != 200:
            return response
        with self.hosting.lock:
            self.hosting.bump(name)
            servers = [s for s in (self.hosting.serving.pop(name, None), self.hosting.starting.pop(name, None)) if s]
            servers += self.hosting.autoscaler.forget(name)
            servers += self.hosting.shifts.forget(name)
            self.hosting.serverless.forget(name)
            deregister_endpoint_targets(self.context, request, name)
        for server in servers:
            threading.Thread(target=server.stop, daemon=True).start()
        return response

    # -- SageMaker runtime
    def invoke_endpoint(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        name = request.path.split("/")[2]
        concurrency = self.hosting.serverless.enter(request, name)  # a serverless endpoint's MaxConcurrency
        if concurrency is False:
            return _runtime_error(
                "ThrottlingException", f"Endpoint {name} is serving its MaxConcurrency invocations; retry later.", 429
            )
        try:
            return self._invoke(request, name)
        finally:
            if concurrency:
                self.hosting.serverless.leave(name)

    def _invoke(self, request: LocalRequest, name: str) -> LocalResponse:
        cold_start = self.hosting.serverless.wake(request, name)  # a serverless endpoint scaled to zero starts
        with self.hosting.lock:
            endpoint = records.endpoint(request.account, request.region, name)
            coming = (
                self.hosting.starting.get(name)
                if endpoint is not None and name not in self.hosting.serving and endpoint.endpoint_status == "InService"
                else None
            )
        if coming is not None:  # hosted again (a restart, a cold start): it answers once its model server is up
            coming.ready.wait(INVOKE_TIMEOUT_S)
            if cold_start is not None:
                self.hosting.serverless.cold_started(request, name, cold_start)
        with self.hosting.lock:
            endpoint = records.endpoint(request.account, request.region, name)
            server = self.hosting.serving.get(name)
            if endpoint is None:
                return _runtime_error("ValidationError", f"Endpoint {name} of account {request.account} not found.")
            if server is None:
                return _runtime_error(
                    "ValidationError", f"Endpoint {endpoint.arn} is {endpoint.endpoint_status} and cannot be invoked."
                )
            server = self.hosting.autoscaler.pick(name, self.hosting.shifts.pick(name, server))
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
            latency = time.monotonic() - started
            status = json.loads(response.body).get("OriginalStatusCode", 500) if response.status != 200 else 200
            self.hosting.autoscaler.record(request, server, latency, status)
            self.hosting.shifts.record(server, latency, status)
            return response
        finally:
            server.release()
            self.hosting.serverless.used(name)

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


def check_model_environment(request: LocalRequest, forward: Forward) -> LocalResponse:
    """CreateModel: a container's endpoint variables follow the CLI's https rule, since its model server runs
    here with them (mlops_cli.local.core.process_env)."""
    body = request.json()
    containers = [("PrimaryContainer", body.get("PrimaryContainer"))]
    containers += [(f"Containers.{index}", item) for index, item in enumerate(body.get("Containers") or [], 1)]
    for member, container in containers:
        if isinstance(container, dict) and isinstance(container.get("Environment"), dict):
            check_endpoints(container["Environment"], f"{member}.Environment")
    return forward(request)


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
