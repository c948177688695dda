"""Real endpoints in the local AWS: which model server answers for which endpoint, and their lifecycle.

moto keeps the records (DescribeEndpoint, ListEndpoints, tags; endpoints.py changes them) but would mark every
endpoint InService at once and answer InvokeEndpoint with a fixed body. Here an endpoint is served by a model
server process (hosting_runner.py) of its configuration's first variant: `launch` starts one, and once it answers
/ping (or cannot) `_settle` makes it serve and stops the one it replaces, or records the failure. A stale start
(the endpoint deleted or updated again meanwhile) stops itself. After a restart of the local AWS, `restore`
hosts the endpoints again. The requests that drive this are in hosting_requests.py.

Scaling (mlops_cli/local/autoscaling/autoscaler.py) adds and removes model servers behind an endpoint, one per
instance, and spreads requests across them. A serverless endpoint has no server while idle (serverless.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mlops_cli.local.autoscaling.autoscaler import Autoscaler
from mlops_cli.local.core.clock import time_scale
from mlops_cli.local.core.server import LocalRequest, ServerContext
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.endpoints import record_in_service, save_endpoint
from mlops_cli.local.sagemaker.hosting_runner import ModelServer, spawn, wait_ready, work_folder
from mlops_cli.local.sagemaker.records import utcnow
from mlops_cli.local.sagemaker.serverless import Serverless
from mlops_cli.local.sagemaker.traffic_shift import (
    TrafficShifts,
    pending_summary,
    rolled_back_reason,
    rollout_to_resume,
)


class Hosting:
    """Endpoint name -> the model server answering for it, and the moto records kept in step."""

    def __init__(self, context: ServerContext):
        self.context = context
        self.lock = threading.RLock()
        self.serving: dict[str, ModelServer] = {}
        self.starting: dict[str, ModelServer] = {}
        self.generation: dict[str, int] = {}  # bumped by create/update/delete: a stale start stops itself
        self.autoscaler = Autoscaler(self)  # more instances under load (mlops_cli/local/autoscaling/autoscaler.py)
        self.serverless = Serverless(self, time_scale())  # none while idle (serverless.py)
        self.shifts = TrafficShifts(self, time_scale())  # canary / linear updates (traffic_shift.py)

    def launch(
        self, request: LocalRequest, name: str, config_name: str, generation: int, update: dict[str, Any] | None
    ) -> ModelServer:
        work_dir = work_folder(self.context, name, config_name)
        server = spawn(self.context, request, name, config_name, work_dir)
        with self.lock:
            self.starting[name] = server
        threading.Thread(
            target=self._await_ready,
            args=(request, server, work_dir, generation, update),
            name=f"endpoint-{name}",
            daemon=True,
        ).start()
        return server

    def _await_ready(
        self, request: LocalRequest, server: ModelServer, work_dir: Path, generation: int, update: dict[str, Any] | None
    ) -> None:
        failure = wait_ready(server)
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
            endpoint = records.endpoint(request.account, request.region, server.endpoint)
            if self.generation.get(server.endpoint) != generation or endpoint is None:
                stale, previous = server, None  # deleted (or replaced) while starting
            elif failure is not None:
                stale, previous = server, None
                # A failed update leaves the old configuration serving, InService; a failed create (or a failed
                # restart of an endpoint after the local AWS restarted) is Failed.
                save_endpoint(
                    self.context,
                    request.account,
                    request.region,
                    server.endpoint,
                    last_modified_time=utcnow(),
                    endpoint_status="InService" if update and not update.get("restore") else "Failed",
                    pending_deployment_summary=None,
                    failure_reason=(
                        f"The primary container for production variant {server.variant} did "
                        f"not pass the ping health check: {failure}"
                    )[:1024],
                )
            elif (
                update
                and (update.get("deployment") or {}).get("BlueGreenUpdatePolicy")
                and self.serving.get(server.endpoint) is not None
            ):
                # Traffic shifts step by step; the old fleet serves until the shift completes (traffic_shift.py).
                stale, previous = None, None
                self.shifts.start(request, server, self.serving[server.endpoint], generation, update)
            else:
                stale, previous = None, self.serving.get(server.endpoint)
                self.serving[server.endpoint] = server
                if not (update and update.get("restore")):  # a restart changes nothing an API call could see
                    record_in_service(
                        self.context, request.account, request.region, endpoint, server.config_name, update
                    )
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

    def restore(self) -> None:
        """After a restart: endpoints InService (or being created) get their model servers back, as many as the
        variant's journaled DesiredInstanceCount. A rollout (a blue/green update with DeploymentConfig) goes on as
        on AWS, where a host failure does not end it: the old configuration serves again, the new fleet starts
        again and the traffic shifts from its first step, judged by the same alarms. A rollback under way ends as
        it would have; an update with no deployment recorded serves its previous configuration again, as after a
        failed update."""
        for account, region, name, endpoint in records.every_endpoint():
            request = LocalRequest({}, "POST", "/", {}, {}, b"", "sagemaker", region, "")
            if request.account != account:
                continue
            status = endpoint.endpoint_status
            if status not in ("InService", "Creating", "Updating", "RollingBack"):
                continue
            rollout = rollout_to_resume(endpoint) if status == "Updating" else None
            if status in ("Updating", "RollingBack") and rollout is None:
                save_endpoint(
                    self.context,
                    request.account,
                    request.region,
                    name,
                    endpoint_status="InService",
                    last_modified_time=utcnow(),
                    pending_deployment_summary=None,
                    failure_reason=rolled_back_reason(request.account, request.region, endpoint)
                    if status == "RollingBack"
                    else "The update was interrupted: the local AWS restarted.",
                )
            with self.lock:
                generation = self.bump(name)
            serving = self.launch(
                request,
                name,
                endpoint.endpoint_config_name,
                generation,
                update=None if status == "Creating" else {"restore": True},
            )
            if rollout is not None:
                threading.Thread(
                    target=self._resume_rollout,
                    args=(request, serving, generation, rollout),
                    name=f"endpoint-{name}-resume",
                    daemon=True,
                ).start()

    def _resume_rollout(self, request: LocalRequest, old: ModelServer, generation: int, update: dict[str, Any]) -> None:
        """Once the old configuration serves again, start the new fleet of the rollout that was cut off."""
        old.ready.wait()
        with self.lock:
            if self.serving.get(old.endpoint) is not old or self.generation.get(old.endpoint) != generation:
                return  # it did not come back (Failed), or the endpoint changed meanwhile
            save_endpoint(
                self.context,
                request.account,
                request.region,
                old.endpoint,
                pending_deployment_summary=pending_summary(
                    update["config_name"], old.variant, "Creating", "Starting the new fleet again"
                ),
            )
        self.launch(request, old.endpoint, update["config_name"], generation, update)

    def bump(self, name: str) -> int:
        self.generation[name] = self.generation.get(name, 0) + 1
        return self.generation[name]

    def stop_all(self) -> None:
        self.serverless.stop()
        self.autoscaler.stop_all()
        with self.lock:
            servers = list(self.serving.values()) + list(self.starting.values()) + self.shifts.stop_all()
            self.serving.clear()
            self.starting.clear()
        for server in servers:
            server.stop(drain=False)
