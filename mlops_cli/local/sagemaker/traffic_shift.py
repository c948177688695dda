"""UpdateEndpoint with `DeploymentConfig.BlueGreenUpdatePolicy` in the local AWS: traffic shifted for real from
the old fleet to the new one, step by step, and rolled back when an alarm fires (SageMaker Developer Guide,
"Deployment guardrails": blue/green with all-at-once, canary or linear traffic shifting; auto-rollback).

Once the new fleet answers /ping (hosting.py), `TrafficShifts.start` keeps the old one serving and sends a share of
the invocations to the new one: CANARY the canary size, then all; LINEAR one step more per interval; ALL_AT_ONCE
all. A size in CAPACITY_PERCENT is that share of the traffic, INSTANCE_COUNT that many of the new fleet's
instances. Each step bakes WaitIntervalInSeconds; meanwhile, every local minute, the invocations each fleet
served are published to CloudWatch under `AWS/SageMaker` with the dimensions EndpointName, VariantName and
EndpointConfigName (the per-fleet series an alarm on the new fleet watches: ModelLatency's individual values so
that percentiles work, Invocation4XX/5XXErrors as 0 or 1 per invocation so that Average is the error rate), and
the alarms of AutoRollbackConfiguration are evaluated on them (mlops_cli.local.cloudwatch.alarm_evaluation).

An alarm in ALARM while baking: every request goes back to the old fleet, the endpoint is RollingBack, the new
fleet drains and stops, and the endpoint is InService on its old configuration with a FailureReason naming the
alarm. After the last step (and TerminationWaitInSeconds) the new configuration serves alone, the old fleet
drains and stops. DescribeEndpoint shows the step meanwhile in PendingDeploymentSummary (the variant's status
Baking, its start and the share as its message) and afterwards the request's LastDeploymentConfig.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_cli.local.cloudwatch import alarm_evaluation
from mlops_cli.local.moto_compat.records import cloudwatch as cloudwatch_records
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.endpoints import record_in_service, save_endpoint
from mlops_cli.local.sagemaker.records import utcnow

if TYPE_CHECKING:
    from mlops_cli.local.core.server import LocalRequest
    from mlops_cli.local.sagemaker.hosting_runner import ModelServer
    from mlops_cli.local.sagemaker.serving import Serving

PERIOD_S = 60  # SageMaker publishes its endpoint metrics per minute


@dataclass
class FleetLoad:
    """What one fleet served since the last publication."""

    latencies_us: list[float] = field(default_factory=list)
    errors_4xx: int = 0
    errors_5xx: int = 0


@dataclass
class Shift:
    request: LocalRequest
    old: ModelServer
    new: ModelServer
    generation: int
    update: dict[str, Any]
    shares: list[float]
    wait_s: float
    termination_s: float
    alarms: list[str]
    share: float = 0.0
    credit: float = 0.0  # the new fleet's due share of the requests not yet sent to it
    loads: dict[str, FleetLoad] = field(default_factory=dict)  # endpoint config name -> its fleet's load
    stopped: threading.Event = field(default_factory=threading.Event)

    @property
    def deployment(self) -> dict[str, Any]:
        return self.update["deployment"]


def shares(routing: dict[str, Any], instances: int) -> list[float]:
    """The new fleet's share of the traffic at each step of a TrafficRoutingConfiguration."""
    size = routing.get("CanarySize") if routing.get("Type") == "CANARY" else routing.get("LinearStepSize")
    if routing.get("Type") == "ALL_AT_ONCE" or not size:
        return [1.0]
    value = float(size.get("Value") or 1)
    step = value / 100 if size.get("Type") == "CAPACITY_PERCENT" else value / max(instances, 1)
    step = min(max(step, 0.0), 1.0)
    if routing["Type"] == "CANARY":
        return [step, 1.0] if step < 1.0 else [1.0]
    steps = []
    share = step
    while 0 < share < 1.0 - 1e-9:
        steps.append(share)
        share += step
    return [*steps, 1.0]


class TrafficShifts:
    """Endpoint name -> its traffic shift in progress."""

    def __init__(self, hosting: Serving, time_scale: float):
        self.hosting = hosting
        self.scale = time_scale
        self.active: dict[str, Shift] = {}

    # -- called under hosting.lock
    def start(
        self, request: LocalRequest, new: ModelServer, old: ModelServer, generation: int, update: dict[str, Any]
    ) -> None:
        policy = update["deployment"]["BlueGreenUpdatePolicy"]
        routing = policy["TrafficRoutingConfiguration"]
        config = records.endpoint_config(request.account, request.region, new.config_name)
        instances = int((config.production_variants[0].get("InitialInstanceCount") if config else 1) or 1)
        alarms = (update["deployment"].get("AutoRollbackConfiguration") or {}).get("Alarms") or []
        shift = Shift(
            request,
            old,
            new,
            generation,
            update,
            shares(routing, instances),
            float(routing.get("WaitIntervalInSeconds") or 0),
            float(policy.get("TerminationWaitInSeconds") or 0),
            [alarm["AlarmName"] for alarm in alarms],
        )
        self.active[new.endpoint] = shift
        threading.Thread(target=self._run, args=(shift,), name=f"endpoint-{new.endpoint}-shift", daemon=True).start()

    def pick(self, endpoint: str, primary: ModelServer) -> ModelServer:
        """The old fleet's server or, for the new fleet's share of the requests, the new one."""
        shift = self.active.get(endpoint)
        if shift is None or primary is not shift.old:
            return primary
        shift.credit += shift.share
        if shift.credit >= 1.0 - 1e-9:
            shift.credit -= 1.0
            return shift.new
        return primary

    def record(self, server: ModelServer, latency_s: float, status: int) -> None:
        """One invocation a fleet answered, for the per-fleet metrics of a shift in progress."""
        with self.hosting.lock:
            shift = self.active.get(server.endpoint)
            if shift is None:
                return
            load = shift.loads.setdefault(server.config_name, FleetLoad())
            load.latencies_us.append(latency_s * 1e6)
            if 400 <= status < 500:
                load.errors_4xx += 1
            elif status >= 500:
                load.errors_5xx += 1

    def forget(self, endpoint: str) -> list[ModelServer]:
        """The endpoint is gone: the new fleet of its shift (for the caller to stop)."""
        shift = self.active.pop(endpoint, None)
        if shift is None:
            return []
        shift.stopped.set()
        return [shift.new]

    def stop_all(self) -> list[ModelServer]:
        return [server for name in list(self.active) for server in self.forget(name)]

    # -- the shift's own thread
    def _current(self, shift: Shift) -> bool:
        name = shift.new.endpoint
        return self.active.get(name) is shift and self.hosting.generation.get(name) == shift.generation

    def _run(self, shift: Shift) -> None:
        try:
            for index, share in enumerate(shift.shares):
                with self.hosting.lock:
                    if not self._current(shift):
                        return
                    shift.share = share
                    self._show_step(shift, index, share)
                fired = self._bake(shift, shift.wait_s)
                if fired is not None:
                    self._roll_back(shift, fired)
                    return
            if shift.termination_s and shift.stopped.wait(shift.termination_s / self.scale):
                return
            self._complete(shift)
        except Exception as exc:  # the old fleet keeps serving: give the update up as AWS would
            print(f"local traffic shift of {shift.new.endpoint}: {type(exc).__name__}: {exc}", file=sys.stderr)
            self._roll_back(shift, None, f"The update failed: {type(exc).__name__}: {exc}")

    def _bake(self, shift: Shift, seconds: float) -> str | None:
        """Wait `seconds` (local time), publishing each fleet's metrics and judging the alarms every local
        minute and at the end; the first alarm in ALARM, or None."""
        period = PERIOD_S / self.scale
        deadline = time.monotonic() + seconds / self.scale
        while True:
            remaining = deadline - time.monotonic()
            if shift.stopped.wait(max(0.0, min(period, remaining))):
                return None
            self._publish(shift)
            for name in shift.alarms:
                if alarm_evaluation.evaluate(shift.request.account, shift.request.region, name, self.scale) == "ALARM":
                    return name
            if remaining <= period:
                return None

    def _publish(self, shift: Shift) -> None:
        with self.hosting.lock:
            loads, shift.loads = shift.loads, {}
        data = []
        for config_name, load in loads.items():
            dimensions = [
                {"Name": "EndpointName", "Value": shift.new.endpoint},
                {"Name": "VariantName", "Value": shift.new.variant},
                {"Name": "EndpointConfigName", "Value": config_name},
            ]
            count = len(load.latencies_us)
            latencies = sorted(round(value) for value in load.latencies_us)
            data.append({"MetricName": "Invocations", "Dimensions": dimensions, "Value": float(count), "Unit": "None"})
            for start in range(0, count, 150):  # PutMetricData takes up to 150 values a datum
                chunk = latencies[start : start + 150]
                data.append(
                    {"MetricName": "ModelLatency", "Dimensions": dimensions, "Values": chunk, "Unit": "Microseconds"}
                )
            for metric, errors in (("Invocation4XXErrors", load.errors_4xx), ("Invocation5XXErrors", load.errors_5xx)):
                values, counts = zip(*[(v, c) for v, c in ((0.0, count - errors), (1.0, errors)) if c], strict=True)
                data.append(
                    {
                        "MetricName": metric,
                        "Dimensions": dimensions,
                        "Values": list(values),
                        "Counts": [float(c) for c in counts],
                        "Unit": "None",
                    }
                )
        if not data:
            return
        now = datetime.now(UTC)
        try:
            client = self.hosting.context.client("cloudwatch", shift.request.region)
            for start in range(0, len(data), 500):
                client.put_metric_data(
                    Namespace="AWS/SageMaker",
                    MetricData=[{**datum, "Timestamp": now} for datum in data[start : start + 500]],
                )
        except Exception as exc:  # the alarms then see no data (missing), as when SageMaker's metrics lag
            print(f"local traffic shift: PutMetricData failed: {exc}", file=sys.stderr, flush=True)

    # -- the endpoint record (under hosting.lock)
    def _show_step(self, shift: Shift, index: int, share: float) -> None:
        steps = len(shift.shares)
        self._save(
            shift,
            endpoint_status="Updating",
            pending_deployment_summary=pending_summary(
                shift.new.config_name,
                shift.new.variant,
                "Baking",
                f"Step {index + 1} of {steps}: {share:.0%} of the traffic on the new fleet; baking {shift.wait_s:g} s",
            ),
        )

    def _save(self, shift: Shift, **attributes: Any) -> None:
        request = shift.request
        save_endpoint(self.hosting.context, request.account, request.region, shift.new.endpoint, **attributes)

    def _roll_back(self, shift: Shift, alarm: str | None, reason: str | None = None) -> None:
        with self.hosting.lock:
            if not self._current(shift):
                return
            shift.share = 0.0  # every request to the old fleet from now on
            self._save(shift, endpoint_status="RollingBack", last_modified_time=utcnow())
        shift.new.stop(drain=True)
        with self.hosting.lock:
            if not self._current(shift):
                return
            del self.active[shift.new.endpoint]
            self._save(
                shift,
                endpoint_status="InService",
                pending_deployment_summary=None,
                last_deployment_config=shift.deployment,
                last_modified_time=utcnow(),
                failure_reason=reason
                or (
                    f"The endpoint update was rolled back: the alarm {alarm} went into ALARM state while the new "
                    f"fleet ({shift.new.config_name}) was baking."
                )[:1024],
            )

    def _complete(self, shift: Shift) -> None:
        with self.hosting.lock:
            if not self._current(shift):
                return
            del self.active[shift.new.endpoint]
            self.hosting.serving[shift.new.endpoint] = shift.new
            endpoint = records.endpoint(shift.request.account, shift.request.region, shift.new.endpoint)
            if endpoint is None:
                return
            record_in_service(
                self.hosting.context,
                shift.request.account,
                shift.request.region,
                endpoint,
                shift.new.config_name,
                shift.update,
                pending_deployment_summary=None,
                last_deployment_config=shift.deployment,
            )
        shift.old.stop(drain=True)


def pending_summary(config_name: str, variant: str, status: str, message: str) -> dict[str, Any]:
    """DescribeEndpoint's PendingDeploymentSummary: the configuration being deployed and its variant's status."""
    now = utcnow()
    return {
        "EndpointConfigName": config_name,
        "StartTime": now,
        "ProductionVariants": [
            {"VariantName": variant, "VariantStatus": [{"Status": status, "StatusMessage": message, "StartTime": now}]}
        ],
    }


def check_deployment(request: LocalRequest, new_config: Any, deployment: dict[str, Any] | None) -> str | None:
    """Why UpdateEndpoint's DeploymentConfig is refused (ValidationException), or None: the alarms must exist, a
    serverless variant takes no traffic shifting, and the local AWS shifts blue/green only (no rolling update)."""
    if not deployment:
        return None
    if deployment.get("RollingUpdatePolicy"):
        return "RollingUpdatePolicy is not supported by the local AWS; use BlueGreenUpdatePolicy."
    routing = (deployment.get("BlueGreenUpdatePolicy") or {}).get("TrafficRoutingConfiguration") or {}
    serverless = any(variant.get("ServerlessConfig") for variant in new_config.production_variants)
    if serverless and routing.get("Type") not in (None, "ALL_AT_ONCE"):
        return f"Traffic routing type {routing['Type']} is not supported for serverless endpoints."
    oversized = _oversized_step(routing, new_config)
    if oversized:
        return oversized
    known = cloudwatch_records.alarms(request.account, request.region).alarms
    alarms = (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
    missing = [alarm.get("AlarmName", "") for alarm in alarms if alarm.get("AlarmName") not in known]
    if missing:
        return f"The CloudWatch alarm(s) [{', '.join(missing)}] in AutoRollbackConfiguration do not exist."
    return None


def _oversized_step(routing: dict[str, Any], new_config: Any) -> str | None:
    """A step in instances beyond what the API Reference (TrafficRoutingConfig) allows of the new fleet: a canary
    at most 50 % of the variant's instance count, a linear step 10 % to 50 %."""
    member = {"CANARY": "CanarySize", "LINEAR": "LinearStepSize"}.get(routing.get("Type", ""))
    size = routing.get(member) if member else None
    if not size or size.get("Type") != "INSTANCE_COUNT":
        return None
    instances = int(new_config.production_variants[0].get("InitialInstanceCount") or 1)
    share = float(size.get("Value") or 0) / instances
    if share > 0.5 or (member == "LinearStepSize" and share < 0.1):
        bounds = "less than or equal to 50%" if member == "CanarySize" else "10-50%"
        return f"{member} must be {bounds} of the variant's total instance count ({instances})."
    return None


def rollout_to_resume(endpoint: Any) -> dict[str, Any] | None:
    """The update of an endpoint journaled Updating with a blue/green DeploymentConfig (its pending deployment names
    the new configuration), to start again after a restart of the local AWS; None for any other update."""
    deployment = getattr(endpoint, "last_deployment_config", None)
    pending = getattr(endpoint, "pending_deployment_summary", None) or {}
    config_name = pending.get("EndpointConfigName")
    if not deployment or not deployment.get("BlueGreenUpdatePolicy") or not config_name:
        return None
    if config_name == endpoint.endpoint_config_name:
        return None
    return {"retain": False, "exclude": set(), "deployment": deployment, "config_name": config_name}


def rolled_back_reason(account: str, region: str, endpoint: Any) -> str:
    """The FailureReason of a rollback the restart cut short: the alarm that had fired, as the rollback says."""
    deployment = getattr(endpoint, "last_deployment_config", None) or {}
    names = [a.get("AlarmName") for a in (deployment.get("AutoRollbackConfiguration") or {}).get("Alarms") or []]
    known = cloudwatch_records.alarms(account, region).alarms
    fired = next((name for name in names if name in known and known[name].state_value == "ALARM"), None)
    if fired is None:
        return "The endpoint update was rolled back; the local AWS restarted during the rollback."
    pending = getattr(endpoint, "pending_deployment_summary", None) or {}
    return (
        f"The endpoint update was rolled back: the alarm {fired} went into ALARM state while the new fleet "
        f"({pending.get('EndpointConfigName', 'the new configuration')}) was baking."
    )[:1024]


def deployment_attributes(new_config: Any, deployment: dict[str, Any] | None) -> dict[str, Any]:
    """What UpdateEndpoint with a DeploymentConfig sets on the record at once: LastDeploymentConfig, and for a
    blue/green update the pending deployment (its new fleet starting)."""
    if not deployment:
        return {}
    attributes: dict[str, Any] = {"last_deployment_config": deployment}
    if deployment.get("BlueGreenUpdatePolicy"):
        variant = new_config.production_variants[0]["VariantName"]
        attributes["pending_deployment_summary"] = pending_summary(
            new_config.endpoint_config_name, variant, "Creating", "Starting the new fleet"
        )
    return attributes
