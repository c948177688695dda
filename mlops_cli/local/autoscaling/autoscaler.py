"""Local endpoints scale for real: SageMaker's metrics, target tracking as Application Auto Scaling does it,
more model servers on scale-out and a drained one less on scale-in.

Metrics. Every invocation is counted per endpoint and variant; once per (local) minute the local AWS publishes,
like SageMaker, `AWS/SageMaker` `Invocations`, `InvocationsPerInstance`, `ModelLatency` (microseconds) and
`Invocation4XXErrors`/`Invocation5XXErrors` with the dimensions EndpointName and VariantName, by PutMetricData
to its own CloudWatch. A minute without invocations has no datapoint, as on SageMaker.

Target tracking (Application Auto Scaling User Guide, "How target tracking scaling works"): the policy's two
alarms are evaluated on those datapoints. High: the metric above the target for 3 consecutive 1-minute
datapoints scales out, in proportion (ceil(capacity x metric / target)); low: below 90 % of the target for 15
consecutive datapoints scales in. Missing datapoints break a run, so an endpoint with no traffic at all does not
scale in (the alarm has insufficient data, as on AWS). Capacity stays within the scalable target's min and
max; a scale-out waits for the scale-out cooldown after the last one, a scale-in for the scale-in cooldown
after any scaling. `DisableScaleIn` is honoured. The two alarms exist in CloudWatch (alarms.py) and
follow the evaluation. Each scaling is recorded as an activity (DescribeScalingActivities) with AWS's wording.

Instances. Each extra instance is one more model server process (sagemaker/hosting_runner.py starts it the same
way as the first) and requests go round-robin across the healthy ones of the endpoint's current configuration.
DescribeEndpoint shows the variant's DesiredInstanceCount at once and its CurrentInstanceCount once the new
server answers /ping; the endpoint is Updating meanwhile. Scale-in takes an instance out of rotation first,
then lets its requests in flight finish before stopping it, so no request fails.

Time. `MLOPS_LOCAL_TIME_SCALE` (set by `mlops local up` from the config's `local.time_scale`) makes a local
minute last 60 / scale real seconds: periods and cooldowns shrink by that factor; timestamps stay real. The
alarms' period is that local minute too (alarms.period_s), so CloudWatch statistics at it match the alarms.
"""

from __future__ import annotations

import itertools
import math
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_cli.local.autoscaling import activities
from mlops_cli.local.autoscaling import alarms as scaling_alarms
from mlops_cli.local.core.clock import time_scale
from mlops_cli.local.moto_compat.records import autoscaling as scaling_records
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.endpoints import save_endpoint
from mlops_cli.local.sagemaker.hosting_runner import ModelServer, spawn, wait_ready, work_folder

if TYPE_CHECKING:
    from mlops_cli.local.core.server import LocalRequest
    from mlops_cli.local.sagemaker.serving import Serving


SCALE_OUT_DATAPOINTS = 3
SCALE_IN_DATAPOINTS = 15
SCALE_IN_FRACTION = 0.9  # the low alarm's threshold, as a share of the target
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC_TYPE = "SageMakerVariantInvocationsPerInstance"


def _iso_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class VariantLoad:
    """One variant's counters for the current period and its recent datapoints (None: no data)."""

    account: str
    region: str
    endpoint: str
    variant: str
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    latency_us: float = 0.0
    datapoints: deque = field(default_factory=lambda: deque(maxlen=SCALE_IN_DATAPOINTS))
    # Local seconds when the last scale-out (its instances serving) and the last scale-in completed: each
    # cooldown counts from the completion of an activity of its own kind (Application Auto Scaling API
    # Reference, TargetTrackingScalingPolicyConfiguration ScaleOutCooldown/ScaleInCooldown).
    scale_out_done: float = -math.inf
    scale_in_done: float = -math.inf


class Autoscaler:
    """Replicas behind each endpoint, the metrics that drive them, and the recorded scaling activities."""

    def __init__(self, hosting: Serving):
        self.hosting = hosting
        self.scale = time_scale()
        self.replicas: dict[str, list[ModelServer]] = {}  # endpoint -> healthy extra instances
        self.pending: dict[str, int] = {}  # endpoint -> instances being started
        self.turn = itertools.count()
        self.loads: dict[tuple[str, str, str, str], VariantLoad] = {}
        self.requests: dict[str, LocalRequest] = {}  # endpoint -> a request of it (account, region, backend)
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    # -- local clock
    def local_now(self) -> float:
        return (time.monotonic() - self.started) * self.scale

    # -- serving (called under hosting.lock)
    def pick(self, endpoint: str, primary: ModelServer) -> ModelServer:
        """Round-robin over the primary server and the healthy replicas of its configuration."""
        fleet = [primary] + [r for r in self.replicas.get(endpoint, []) if r.config_name == primary.config_name]
        return fleet[next(self.turn) % len(fleet)]

    def record(self, request: LocalRequest, server: ModelServer, latency_s: float, status: int) -> None:
        key = (request.account, request.region, server.endpoint, server.variant)
        with self.hosting.lock:
            load = self.loads.get(key)
            if load is None:
                load = self.loads[key] = VariantLoad(request.account, request.region, server.endpoint, server.variant)
            self.requests[server.endpoint] = request
            load.invocations += 1
            load.latency_us += latency_s * 1e6
            if 400 <= status < 500:
                load.errors_4xx += 1
            elif status >= 500:
                load.errors_5xx += 1
        self._ensure_running()

    def forget(self, endpoint: str) -> list[ModelServer]:
        """The endpoint is gone: its replicas (for the caller to stop) and its counters."""
        with self.hosting.lock:
            self.pending.pop(endpoint, None)
            self.requests.pop(endpoint, None)
            for key in [k for k in self.loads if k[2] == endpoint]:
                del self.loads[key]
            return self.replicas.pop(endpoint, [])

    def stop_all(self) -> None:
        self.stop.set()
        with self.hosting.lock:
            servers = [s for group in self.replicas.values() for s in group]
            self.replicas.clear()
        for server in servers:
            server.stop(drain=False)

    # -- the period loop
    def _ensure_running(self) -> None:
        if self.thread is None:
            with self.hosting.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._loop, name="local-autoscaling", daemon=True)
                    self.thread.start()

    def _loop(self) -> None:
        while not self.stop.wait(scaling_alarms.PERIOD_S / self.scale):
            try:
                self.tick()
            except Exception as exc:  # one bad period must not end scaling for good
                print(f"local autoscaling: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def tick(self) -> None:
        """Close the period: publish its datapoints, evaluate every endpoint's target-tracking policy."""
        with self.hosting.lock:
            self._replace_stale()
            closed = []
            for load in self.loads.values():
                instances = self.current_count(load.endpoint)
                datapoint = load.invocations / instances if load.invocations and instances else None
                closed.append((load, load.invocations, datapoint, load.latency_us, load.errors_4xx, load.errors_5xx))
                load.datapoints.append(datapoint)
                load.invocations, load.latency_us, load.errors_4xx, load.errors_5xx = 0, 0.0, 0, 0
        for load, invocations, datapoint, latency_us, errors_4xx, errors_5xx in closed:
            if invocations:
                self.publish(load, invocations, datapoint, latency_us / invocations, errors_4xx, errors_5xx)
            self.evaluate(load)

    def publish(
        self,
        load: VariantLoad,
        invocations: int,
        per_instance: float | None,
        latency_us: float,
        errors_4xx: int,
        errors_5xx: int,
    ) -> None:
        dimensions = [{"Name": "EndpointName", "Value": load.endpoint}, {"Name": "VariantName", "Value": load.variant}]
        metrics = [
            ("Invocations", invocations, "None"),
            ("InvocationsPerInstance", per_instance or 0.0, "None"),
            ("ModelLatency", latency_us, "Microseconds"),
            ("Invocation4XXErrors", errors_4xx, "None"),
            ("Invocation5XXErrors", errors_5xx, "None"),
        ]
        try:
            self.hosting.context.client("cloudwatch", load.region).put_metric_data(
                Namespace="AWS/SageMaker",
                MetricData=[
                    {
                        "MetricName": name,
                        "Dimensions": dimensions,
                        "Value": float(value),
                        "Unit": unit,
                        "Timestamp": _iso_now(),
                    }
                    for name, value, unit in metrics
                ],
            )
        except Exception as exc:  # metrics are best effort; scaling runs on the counts kept here
            print(f"local autoscaling: PutMetricData failed: {exc}", file=sys.stderr, flush=True)

    # -- the policy
    def _scaling(
        self, load: VariantLoad
    ) -> tuple[scaling_records.ScalableTarget, scaling_records.ScalingPolicy | None] | None:
        """(scalable target, target-tracking policy) of the variant, from moto's records."""
        resource = f"endpoint/{load.endpoint}/variant/{load.variant}"
        target = scaling_records.target(load.account, load.region, SCALABLE_DIMENSION, resource)
        if target is None:
            return None
        policy = next(
            (
                p
                for p in scaling_records.policies(load.account, load.region).values()
                if p.service_namespace == "sagemaker"
                and p.resource_id == resource
                and p.policy_type == "TargetTrackingScaling"
            ),
            None,
        )
        return target, policy

    def evaluate(self, load: VariantLoad) -> None:
        with self.hosting.lock:
            scaling = self._scaling(load)
            endpoint = self._endpoint(load)
            if (
                scaling is None
                or endpoint is None
                or endpoint.endpoint_status not in ("InService", "Updating")
                or self.hosting.serving.get(load.endpoint) is None
            ):
                return
            target, policy = scaling
            desired = self.desired_count(load.endpoint)
            low, high = int(target.min_capacity), int(target.max_capacity)
            now = self.local_now()
            if not low <= desired <= high:  # the range changed: AWS moves capacity into it at once
                wanted = min(max(desired, low), high)
                cause = f"{'minimum' if wanted == low else 'maximum'} capacity was set to {wanted}"
                self.scale_to(load, wanted, cause)
                return
            if policy is None or endpoint.endpoint_status != "InService":
                return
            config = policy.target_tracking_scaling_policy_configuration or {}
            metric = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
            if metric != METRIC_TYPE:
                return
            goal = float(config.get("TargetValue") or 0)
            points = list(load.datapoints)
            recent = points[-SCALE_OUT_DATAPOINTS:]
            high_alarm = (
                goal > 0 and len(recent) == SCALE_OUT_DATAPOINTS and all(p is not None and p > goal for p in recent)
            )
            low_alarm = (
                goal > 0
                and len(points) == SCALE_IN_DATAPOINTS
                and all(p is not None and p < SCALE_IN_FRACTION * goal for p in points)
            )
            scaling_alarms.show_evaluation(policy, points, high_alarm, low_alarm)
            # The datapoints stay: an alarm keeps its state across a scaling, as CloudWatch's does, so a metric
            # still above the target after a scale-out scales out again once the cooldown has passed.
            busy = self.pending.get(load.endpoint, 0) > 0  # a scale-out in progress has not completed
            if high_alarm:
                wanted = min(high, math.ceil(desired * recent[-1] / goal))
                cooldown = float(config.get("ScaleOutCooldown") or 0)
                if wanted > desired and not busy and now - load.scale_out_done >= cooldown:
                    # A scale-out is not held back by the scale-in cooldown ("scales out immediately").
                    self.scale_to(
                        load,
                        wanted,
                        f"monitor alarm {scaling_alarms.name(policy, 'High')} in state "
                        f"ALARM triggered policy {policy.policy_name}",
                    )
                return
            if low_alarm and not config.get("DisableScaleIn"):
                wanted = max(low, math.ceil(desired * points[-1] / goal))
                cooldown = float(config.get("ScaleInCooldown") or 0)
                if wanted < desired and not busy and now - load.scale_in_done >= cooldown:
                    self.scale_to(
                        load,
                        wanted,
                        f"monitor alarm {scaling_alarms.name(policy, 'Low')} in state "
                        f"ALARM triggered policy {policy.policy_name}",
                    )

    # -- instances (called under hosting.lock)
    def _endpoint(self, load: VariantLoad) -> records.Endpoint | None:
        return records.endpoint(load.account, load.region, load.endpoint)

    def current_count(self, endpoint: str) -> int:
        serving = 1 if self.hosting.serving.get(endpoint) is not None else 0
        return serving + len(self.replicas.get(endpoint, []))

    def desired_count(self, endpoint: str) -> int:
        return self.current_count(endpoint) + self.pending.get(endpoint, 0)

    def _set_counts(self, load: VariantLoad) -> None:
        """The variant's instance counts (and the endpoint's status) in moto's record, through the local AWS's
        journal: after a restart `restore` hosts as many instances as DesiredInstanceCount says."""
        endpoint = self._endpoint(load)
        if endpoint is None:
            return
        variants = [dict(variant) for variant in endpoint.production_variants]
        for variant in variants:
            if variant["VariantName"] == load.variant:
                variant["CurrentInstanceCount"] = self.current_count(load.endpoint)
                variant["DesiredInstanceCount"] = self.desired_count(load.endpoint)
        status = endpoint.endpoint_status
        shifting = load.endpoint in self.hosting.shifts.active  # a canary/linear update is Updating throughout
        if status in ("InService", "Updating") and load.endpoint not in self.hosting.starting and not shifting:
            status = "Updating" if self.pending.get(load.endpoint, 0) > 0 else "InService"
        if variants != endpoint.production_variants or status != endpoint.endpoint_status:
            save_endpoint(
                self.hosting.context,
                load.account,
                load.region,
                load.endpoint,
                production_variants=variants,
                endpoint_status=status,
            )

    def scale_to(self, load: VariantLoad, wanted: int, cause: str) -> None:
        desired = self.desired_count(load.endpoint)
        activity = self._activity(load, wanted, cause)
        if wanted > desired:
            primary = self.hosting.serving[load.endpoint]
            self.pending[load.endpoint] = self.pending.get(load.endpoint, 0) + wanted - desired
            for _ in range(wanted - desired):
                threading.Thread(
                    target=self._add_instance,
                    args=(load, primary.config_name, activity),
                    name=f"endpoint-{load.endpoint}-scale-out",
                    daemon=True,
                ).start()
        else:
            replicas = self.replicas.get(load.endpoint, [])
            removed = [replicas.pop() for _ in range(min(desired - wanted, len(replicas)))]
            for server in removed:  # out of rotation now; requests in flight finish before it stops
                threading.Thread(target=server.stop, name=f"endpoint-{load.endpoint}-drain", daemon=True).start()
            load.scale_in_done = self.local_now()  # the capacity left at once
            self._finish(
                load,
                activity,
                "Successful",
                f"Successfully set desired instance count to {wanted}. Change successfully fulfilled by sagemaker.",
            )
        self._set_counts(load)

    def _replace_stale(self) -> None:
        """After a blue/green update, instances of the old configuration give way to ones of the new."""
        for endpoint, replicas in self.replicas.items():
            primary = self.hosting.serving.get(endpoint)
            stale = [r for r in replicas if primary is None or r.config_name != primary.config_name]
            for server in stale:
                replicas.remove(server)
                threading.Thread(target=server.stop, name=f"endpoint-{endpoint}-drain", daemon=True).start()
                load = next((item for item in self.loads.values() if item.endpoint == endpoint), None)
                if primary is not None and load is not None:
                    self.pending[endpoint] = self.pending.get(endpoint, 0) + 1
                    threading.Thread(
                        target=self._add_instance, args=(load, primary.config_name, None), daemon=True
                    ).start()

    def rehost(self, request: LocalRequest, primary: ModelServer, extra: int) -> None:
        """After a restart, once the first instance serves again: the other `extra` instances the journaled
        DesiredInstanceCount counts come back too. The record keeps its counts meanwhile (a restart changes nothing
        an API call could see); only an instance that cannot start again changes them."""
        key = (request.account, request.region, primary.endpoint, primary.variant)
        with self.hosting.lock:
            load = self.loads.get(key)
            if load is None:
                load = self.loads[key] = VariantLoad(*key)
            self.requests[primary.endpoint] = request
            self.pending[primary.endpoint] = self.pending.get(primary.endpoint, 0) + extra
        for _ in range(extra):
            threading.Thread(
                target=self._add_instance,
                args=(load, primary.config_name, None, True),
                name=f"endpoint-{primary.endpoint}-rehost",
                daemon=True,
            ).start()

    def _add_instance(
        self, load: VariantLoad, config_name: str, activity: dict[str, Any] | None, restoring: bool = False
    ) -> None:
        request = self.requests.get(load.endpoint)
        server = failure = None
        try:
            if request is None:
                raise LookupError(f"no CreateEndpoint request recorded for {load.endpoint}")
            work_dir = work_folder(
                self.hosting.context, load.endpoint, f"{config_name}-instance-{uuid.uuid4().hex[:8]}"
            )
            server = spawn(self.hosting.context, request, load.endpoint, config_name, work_dir)
            failure = wait_ready(server)
        except Exception as exc:
            failure = f"{type(exc).__name__}: {exc}"
        with self.hosting.lock:
            self.pending[load.endpoint] = max(0, self.pending.get(load.endpoint, 0) - 1)
            primary = self.hosting.serving.get(load.endpoint)
            keep = failure is None and primary is not None and primary.config_name == config_name
            if keep and server is not None:
                self.replicas.setdefault(load.endpoint, []).append(server)
            if not restoring or self.pending.get(load.endpoint, 0) == 0:
                self._set_counts(load)
            if activity is not None and self.pending.get(load.endpoint, 0) == 0:
                load.scale_out_done = self.local_now()
                if failure is None:
                    self._finish(
                        load,
                        activity,
                        "Successful",
                        f"Successfully set desired instance count to "
                        f"{self.desired_count(load.endpoint)}. Change successfully "
                        "fulfilled by sagemaker.",
                    )
                else:
                    self._finish(load, activity, "Failed", f"Failed to set desired instance count: {failure}")
        if not keep and server is not None:
            server.stop(drain=False)

    # -- activities
    def _activity(self, load: VariantLoad, wanted: int, cause: str) -> dict[str, Any]:

        activity = {
            "ActivityId": str(uuid.uuid4()),
            "ServiceNamespace": "sagemaker",
            "ResourceId": f"endpoint/{load.endpoint}/variant/{load.variant}",
            "ScalableDimension": SCALABLE_DIMENSION,
            "Description": f"Setting desired instance count to {wanted}.",
            "Cause": cause,
            "StartTime": time.time(),
            "StatusCode": "InProgress",
        }
        self._record(load, activity)
        return activity

    def _finish(self, load: VariantLoad, activity: dict[str, Any], status: str, message: str) -> None:
        activity.update(StatusCode=status, StatusMessage=message, EndTime=time.time())
        self._record(load, activity)

    def _record(self, load: VariantLoad, activity: dict[str, Any]) -> None:
        activities.record(self.hosting.context, load.account, load.region, activity)
