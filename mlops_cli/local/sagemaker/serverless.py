"""Serverless endpoints (a variant with ServerlessConfig) as SageMaker runs them: no instance while idle, a cold
start for the request that finds none, and at most MaxConcurrency invocations at once (the others are throttled).

After IDLE_S without a request in flight (AWS seconds: the local AWS's time scale applies, MLOPS_LOCAL_TIME_SCALE;
tests that need only the mechanism shorten it with MLOPS_LOCAL_SERVERLESS_IDLE_S) the endpoint's model server
drains and stops; the endpoint stays InService. The next InvokeEndpoint starts a model server again and waits for
it (requests arriving meanwhile wait for the same one), and the time that took is published as SageMaker
publishes it: the CloudWatch metric `ModelSetupTime` (microseconds, namespace AWS/SageMaker, dimensions
EndpointName and VariantName), which `mlops loadtest` reads to report cold starts.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from mlops_cli.local.core.server import LocalRequest
from mlops_cli.local.moto_compat.records import sagemaker as records

if TYPE_CHECKING:
    from mlops_cli.local.sagemaker.serving import Serving

# SageMaker keeps an idle serverless endpoint warm for a while (it does not say how long); a minute here, in AWS
# seconds, so that a test sees a cold start after ~6 s at the default local time scale of 10.
IDLE_S = 60.0
IDLE_ENV = "MLOPS_LOCAL_SERVERLESS_IDLE_S"
CHECK_S = 0.5


def idle_s() -> float:
    """AWS seconds an idle serverless endpoint keeps its model server: IDLE_ENV when it is a number above 0, else
    IDLE_S."""
    try:
        seconds = float(os.environ.get(IDLE_ENV) or IDLE_S)
    except ValueError:
        return IDLE_S
    return seconds if math.isfinite(seconds) and seconds > 0 else IDLE_S


def serverless_variant(request: LocalRequest, name: str) -> dict[str, Any] | None:
    """The endpoint's serving variant when it is serverless (its CurrentServerlessConfig), else None."""
    endpoint = records.endpoint(request.account, request.region, name)
    variants = endpoint.production_variants if endpoint is not None else []
    first = variants[0] if variants else {}
    return first if first.get("CurrentServerlessConfig") else None


class Serverless:
    """Scales serverless endpoints to zero when idle and back to one on the next request."""

    def __init__(self, hosting: Serving, time_scale: float):
        self.hosting = hosting
        self.idle_s = idle_s() / time_scale
        self.last_used: dict[str, float] = {}  # endpoint -> its last request, since it was first invoked
        self.in_flight: dict[str, int] = {}  # endpoint -> invocations admitted and not answered yet
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        threading.Thread(target=self._reap, name="serverless-idle", daemon=True).start()

    def enter(self, request: LocalRequest, name: str) -> bool | None:
        """Admit an invocation: None when the endpoint is not serverless, False when MaxConcurrency invocations
        are in flight already (cold starts included), True when admitted (then `leave` once answered)."""
        variant = serverless_variant(request, name)
        if variant is None:
            return None
        limit = int(variant["CurrentServerlessConfig"].get("MaxConcurrency") or 1)
        with self.lock:
            if self.in_flight.get(name, 0) >= limit:
                return False
            self.in_flight[name] = self.in_flight.get(name, 0) + 1
        return True

    def leave(self, name: str) -> None:
        with self.lock:
            left = self.in_flight.get(name, 1) - 1
            if left > 0:
                self.in_flight[name] = left
            else:
                self.in_flight.pop(name, None)

    def wake(self, request: LocalRequest, name: str) -> float | None:
        """Before an invocation: when the endpoint is serverless and scaled to zero, start its model server (once
        for every request that finds it so); the monotonic time the cold start began, else None."""
        variant = serverless_variant(request, name)
        if variant is None:
            return None
        with self.lock:
            self.last_used[name] = time.monotonic()
        hosting = self.hosting
        with hosting.lock:
            if name in hosting.serving or name in hosting.starting:
                return None
            endpoint = records.endpoint(request.account, request.region, name)
            if endpoint is None or endpoint.endpoint_status != "InService":  # deleted meanwhile, or not serving
                return None
            began = time.monotonic()
            generation = hosting.bump(name)
            # Hosted again with nothing an API call could see changing, as after a restart of the local AWS.
            hosting.launch(request, name, endpoint.endpoint_config_name, generation, update={"restore": True})
        return began

    def used(self, name: str) -> None:
        with self.lock:
            if name in self.last_used:
                self.last_used[name] = time.monotonic()

    def cold_started(self, request: LocalRequest, name: str, began: float) -> None:
        """Publish the cold start's ModelSetupTime, as SageMaker does for serverless endpoints."""
        variant = serverless_variant(request, name)
        if variant is None:
            return
        try:
            self.hosting.context.client("cloudwatch", request.region).put_metric_data(
                Namespace="AWS/SageMaker",
                MetricData=[
                    {
                        "MetricName": "ModelSetupTime",
                        "Dimensions": [
                            {"Name": "EndpointName", "Value": name},
                            {"Name": "VariantName", "Value": variant["VariantName"]},
                        ],
                        "Value": (time.monotonic() - began) * 1_000_000,
                        "Unit": "Microseconds",
                    }
                ],
            )
        except Exception as exc:  # a metric lost must never fail the invocation
            print(f"endpoint {name}: ModelSetupTime not published: {exc}", file=sys.stderr, flush=True)

    def forget(self, name: str) -> None:
        with self.lock:
            self.last_used.pop(name, None)

    def stop(self) -> None:
        self.stopped.set()

    def _reap(self) -> None:
        while not self.stopped.wait(CHECK_S):
            now = time.monotonic()
            with self.lock:
                idle = [name for name, last in self.last_used.items() if now - last >= self.idle_s]
            for name in idle:
                self._scale_to_zero(name)

    def _scale_to_zero(self, name: str) -> None:
        hosting = self.hosting
        with hosting.lock, self.lock:  # a request that came meanwhile (wake) keeps it
            last = self.last_used.get(name)
            server = hosting.serving.get(name)
            if last is None or time.monotonic() - last < self.idle_s or server is None or server.in_flight:
                return
            # Admitted and not answered: waiting for this very server after a cold start longer than the idle time.
            if self.in_flight.get(name):
                return
            del hosting.serving[name]
            del self.last_used[name]
        server.stop(drain=True)
