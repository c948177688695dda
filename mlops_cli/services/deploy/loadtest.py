"""`mlops loadtest`: open-loop load against the endpoint or the Lambda function.

Arrivals are scheduled in advance (a constant rate, or a linear ramp from R1 to R2 requests/s, after an optional
warm-up at the first rate) and each one is due at its own time whatever the server does, so a slow server meets a
growing queue, as it would from real users (a closed loop would slow down with it and hide the latency).

At most `max_in_flight` requests are outstanding at once (the client's connections). An arrival that finds them
all busy waits for one, as a user's request would; one still waiting after the timeout is given up and counted as
`dropped`. Latency counts from the time a request was due, not from when it could be sent: the figure corrected
for coordinated omission (a generator that measures from the send hides exactly the waits a stalled server
causes). The service time, from the send to the answer, is kept beside it. Every request due counts in the
latency percentiles: an answer (successful or not) at its time, a timeout or a drop at the time it was given up.
Clients make one attempt per request (no retries), so throttling and errors are seen as they happen.

While it runs, the endpoint's instance count is polled from DescribeEndpoint (CurrentInstanceCount); for a
Lambda function the executions running at once are sampled from the client's side (AWS publishes
ConcurrentExecutions only per minute). Lambda cold starts are told from warm ones by the `Init Duration` of
the invocation's REPORT log line (`LogType=Tail`), as AWS writes it. A serverless endpoint's cold starts are
read after the run from the metric SageMaker publishes for them (ModelSetupTime).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.aws import error_code
from mlops_cli.documents import DocumentError
from mlops_cli.errors import OperationError, UsageError, read_user_file
from mlops_cli.files import write_atomically
from mlops_cli.plan.sends import sends, sends_via
from mlops_cli.services.deploy.invoke import JSON, MAX_PAYLOAD_BYTES, URL, sniff_content_type

if TYPE_CHECKING:
    from mlops_cli.plan import Plan

TARGETS = ("endpoint", "lambda")
ORDERS = ("sequential", "random")
MAX_IMAGES = 500  # enough variety; every image is read into memory before the first request
MAX_REQUEST_LINES = 100_000
MAX_REQUESTS_FILE_BYTES = 64 * 1024 * 1024  # what `--requests FILE` may hold (read once, kept in memory)
# Every request is kept as a sample until the summary; beyond this a run would take gigabytes (and hours).
MAX_SCHEDULED = 1_000_000
MAX_DURATION_S = 24 * 3600
LIVE_WINDOW_S = 5  # the live view's percentiles: the requests due in the last few seconds
POLL_S = 1.0
TICK_S = 0.5
DEFAULT_TIMEOUT_S = 30.0
FAIL_ON = re.compile(r"^(p50|p90|p99|max|errors)\s*>\s*(\d+(?:\.\d+)?)$")
INIT_DURATION = re.compile(r"Init Duration: ([\d.]+) ms")
THROTTLING_CODES = {"TooManyRequestsException", "ThrottlingException", "Throttling"}
OUTCOMES = ("ok", "4xx", "5xx", "throttled", "timeout", "dropped")
ERROR_CLASSES = OUTCOMES[1:-1]  # answered (or timed out) but not ok; `dropped` is reported beside them
# The timeline's percentiles come from a trailing window wide enough to hold about WINDOW_REQUESTS requests at
# the run's mean rate (within these bounds): a per-second p99 of three samples would only be their maximum.
WINDOW_REQUESTS = 100
WINDOW_S = (10, 60)
MIN_SAMPLES = {"p50_ms": 1, "p90_ms": 10, "p99_ms": 50}


@dataclass(frozen=True)
class Payload:
    body: bytes  # what the endpoint gets
    content_type: str
    event: dict[str, Any] | None = None  # what a Lambda function gets; None: {"image_b64": body}


@dataclass(frozen=True)
class LoadSpec:
    target: str  # "endpoint" | "lambda"
    name: str  # endpoint name, or function name (with qualifier as name:alias)
    start_rate: float
    end_rate: float
    duration_s: float
    max_in_flight: int
    fail_on: dict[str, float] = field(default_factory=dict)  # p99 -> ms, errors -> percent
    timeout_s: float = DEFAULT_TIMEOUT_S  # per request, from its send (and the longest wait for a connection)
    warmup_s: float = 0.0  # at start_rate before the measured duration; left out of every figure
    order: str = "sequential"  # of the payloads: sequential (cycling) | random


@dataclass
class Sample:
    t: float  # seconds since the measured start when the request was due (negative: warm-up)
    latency_ms: float  # from the due time to the answer or to giving up (coordinated-omission corrected)
    service_ms: float | None  # from the send to the answer; None for a request never sent (dropped)
    outcome: str  # one of OUTCOMES
    cold: bool = False


def parse_rate(rate: float | None, ramp: str | None) -> tuple[float, float]:
    if rate is not None and ramp is not None:
        raise UsageError("give --rate or --ramp, not both")
    if ramp is not None:
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", ramp)
        if not found:
            raise UsageError(f"--ramp must be R1:R2 in requests per second, e.g. 1:20 (got '{ramp}')")
        start, end = float(found.group(1)), float(found.group(2))
    else:
        start = end = 5.0 if rate is None else rate
    if not (math.isfinite(start) and math.isfinite(end)) or start <= 0 and end <= 0 or start < 0 or end < 0:
        given = ramp if ramp is not None else f"{rate:g}"
        raise UsageError(f"the request rate must be a finite number > 0 requests per second (got {given})")
    return start, end


def parse_fail_on(text: str | None) -> dict[str, float]:
    """`p99>500,errors>1` -> {"p99": 500.0, "errors": 1.0} (latency in ms, errors in percent)."""
    if not text:
        return {}
    limits: dict[str, float] = {}
    for part in text.split(","):
        found = FAIL_ON.match(part.strip())
        if not found:
            raise UsageError(
                f"--fail-on: '{part.strip()}' is not one of p50>MS, p90>MS, p99>MS, max>MS, errors>PERCENT"
            )
        limits[found.group(1)] = float(found.group(2))
    return limits


def check_spec(spec: LoadSpec) -> None:
    if spec.target not in TARGETS:
        raise UsageError(f"--target must be one of {', '.join(TARGETS)} (got '{spec.target}')")
    if not 1 <= spec.duration_s <= MAX_DURATION_S:
        raise UsageError(f"--duration must be between 1 second and 24 hours (got {spec.duration_s:g})")
    if not 1 <= spec.max_in_flight <= 1000:
        raise UsageError("--max-in-flight must be between 1 and 1000")
    if not 0 < spec.timeout_s <= 900:
        raise UsageError("--timeout must be more than 0 and at most 900 seconds")
    if not 0 <= spec.warmup_s <= 3600:
        raise UsageError("--warmup must be between 0 and 3600 seconds")
    if spec.warmup_s and spec.start_rate <= 0:
        raise UsageError("--warmup runs at the first rate of --ramp, which is 0: start the ramp above 0")
    if spec.order not in ORDERS:
        raise UsageError(f"--order must be one of {', '.join(ORDERS)} (got '{spec.order}')")
    # Counted as floats first: a rate near the largest float overflows to infinity, never to an error here.
    total = expected_arrivals(spec.start_rate, spec.end_rate, spec.duration_s)
    if spec.warmup_s:
        total += expected_arrivals(spec.start_rate, spec.start_rate, spec.warmup_s)
    load = f"{spec.start_rate:g}" + ("" if spec.end_rate == spec.start_rate else f" to {spec.end_rate:g}")
    load += f" requests/s for {spec.duration_s:g} s" + (
        f" after a {spec.warmup_s:g} s warm-up" if spec.warmup_s else ""
    )
    if not total <= MAX_SCHEDULED:
        shown = f"{int(total):,}" if total < 1e15 else f"{total:.3g}" if math.isfinite(total) else "more than 1e+308"
        raise UsageError(
            f"{load} schedules {shown} requests, more than the {MAX_SCHEDULED:,} one run may:"
            " lower the rate or the duration"
        )
    if scheduled_counts(spec)[0] == 0:
        raise UsageError(f"{load} schedules no request to measure: raise the rate or the duration")


def read_image(path: Path) -> Payload | None:
    """The image file as a body (content type from its magic bytes), None when it is not one we can send."""
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_PAYLOAD_BYTES else b""
    except OSError:
        return None
    content_type = sniff_content_type(data)
    return Payload(data, content_type) if content_type else None


def load_images(folder: Path) -> list[Payload]:
    """Up to MAX_IMAGES image files under `folder` (sorted, recursive), as the bodies to send."""
    if not folder.is_dir():
        raise UsageError(
            f"no such image folder: {folder}", hint="write the sample with `mlops data sample`, or pass --images DIR"
        )
    payloads: list[Payload] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if len(payloads) == MAX_IMAGES:
            break
        payload = read_image(path)
        if payload is not None:
            payloads.append(payload)
    if not payloads:
        raise UsageError(f"no JPEG, PNG, GIF, BMP or WebP image of at most {MAX_PAYLOAD_BYTES} bytes in {folder}")
    return payloads


def load_requests(path: Path) -> list[Payload]:
    """`--requests FILE`: one request per line, as JSON. An object is the body itself (sent as JSON to the
    endpoint, as the event to a function); a string is an http(s) URL (sent as {"url": ...}, which the endpoint
    fetches) or the path of an image file (relative to FILE's folder). Blank lines are skipped."""
    from mlops_cli.documents import Limits, load_json

    text = read_user_file(path, "--requests file", MAX_REQUESTS_FILE_BYTES)
    limits = Limits(max_bytes=MAX_PAYLOAD_BYTES, max_values=0)
    payloads: list[Payload] = []
    images: dict[Path, Payload | None] = {}  # each image file read once, however many lines name it
    image_bytes = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(payloads) == MAX_REQUEST_LINES:
            raise UsageError(f"--requests {path}: more than {MAX_REQUEST_LINES} requests")
        where = f"--requests {path} line {number}"
        try:
            item = load_json(line, where, limits)
        except DocumentError as exc:
            raise UsageError(str(exc)) from None
        if isinstance(item, dict):
            payloads.append(Payload(json.dumps(item).encode(), JSON, item))
        elif isinstance(item, str) and URL.match(item):
            payloads.append(Payload(json.dumps({"url": item}).encode(), JSON, {"url": item}))
        elif isinstance(item, str) and item.strip():
            image = path.parent / item
            if image not in images:
                read = images[image] = read_image(image) if image.is_file() else None
                image_bytes += len(read.body) if read else 0
                if image_bytes > MAX_REQUESTS_FILE_BYTES:
                    raise UsageError(f"{where}: the images named add up to more than {MAX_REQUESTS_FILE_BYTES} bytes")
            payload = images[image]
            if payload is None:
                raise UsageError(
                    f"{where}: {item} is not a JPEG, PNG, GIF, BMP or WebP file of at most {MAX_PAYLOAD_BYTES} bytes"
                )
            payloads.append(payload)
        else:
            raise UsageError(f"{where}: expected a JSON object (the body), or a string (an image path or URL)")
    if not payloads:
        raise UsageError(f"--requests {path}: no requests in it (one JSON value per line)")
    return payloads


def plan_load(spec: LoadSpec, payload_count: int, source: str = "images") -> Plan:
    """The load as one step: the request every arrival sends (`--dry-run` shows it; run_load sends them)."""
    from mlops_cli.plan import Plan

    plan = Plan(f"load test {spec.target} {spec.name}")
    count, warmup = scheduled_counts(spec)
    note = f"{count} requests over {spec.duration_s:g} s"
    if spec.warmup_s:
        note += f", after {warmup} in a warm-up"
    body = f"<{payload_count} {source}>"
    if spec.target == "endpoint":
        plan.add("sagemaker-runtime", "InvokeEndpoint", {"EndpointName": spec.name, "Body": body}, note)
    else:
        plan.add("lambda", "Invoke", {"FunctionName": spec.name, "Payload": body}, note)
    return plan


def expected_arrivals(start_rate: float, end_rate: float, duration_s: float) -> float:
    """The requests a rate moving linearly from start_rate to end_rate over duration_s asks for (its mean times
    the duration; infinite where that overflows)."""
    return start_rate / 2 * duration_s + end_rate / 2 * duration_s


def arrival_count(start_rate: float, end_rate: float, duration_s: float) -> int:
    """How many requests that rate schedules (within MAX_SCHEDULED once check_spec has passed)."""
    return int(expected_arrivals(start_rate, end_rate, duration_s)) if duration_s > 0 else 0


def scheduled_counts(spec: LoadSpec) -> tuple[int, int]:
    """(measured, warm-up) requests the spec schedules, without scheduling them."""
    warmup = arrival_count(spec.start_rate, spec.start_rate, spec.warmup_s) if spec.warmup_s else 0
    return arrival_count(spec.start_rate, spec.end_rate, spec.duration_s), warmup


def arrival_times(start_rate: float, end_rate: float, duration_s: float) -> Iterator[float]:
    """Send times of a rate that moves linearly from start_rate to end_rate over duration_s, one at a time (a
    long run's schedule is never held whole).

    The k-th request is due when the expected count, start*t + (end-start)*t^2/(2*duration), reaches k.
    """
    slope = (end_rate - start_rate) / duration_s
    for k in range(arrival_count(start_rate, end_rate, duration_s)):
        if abs(slope) < 1e-12:
            yield k / start_rate
        else:
            yield (-start_rate + math.sqrt(start_rate**2 + 2 * slope * k)) / slope


def schedule(spec: LoadSpec) -> Iterator[float]:
    """Every due time, in seconds since the measured start: the warm-up's (negative) first."""
    if spec.warmup_s:
        for t in arrival_times(spec.start_rate, spec.start_rate, spec.warmup_s):
            yield t - spec.warmup_s
    yield from arrival_times(spec.start_rate, spec.end_rate, spec.duration_s)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of `values` (q in 0..100); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _status_of(exc: Exception) -> str:
    """Sort a failed request: timeout (no answer in time), throttled (429 or a throttling code), 4xx, or 5xx
    (also unreachable)."""
    from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

    if isinstance(exc, (ReadTimeoutError, ConnectTimeoutError)):
        return "timeout"
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return "5xx"
    code = error_code(exc)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500
    if status == 429 or code in THROTTLING_CODES:
        return "throttled"
    original = response.get("OriginalStatusCode")  # SageMaker's ModelError (424) carries the model's status
    if isinstance(original, int):
        status = original
    return "4xx" if 400 <= status < 500 else "5xx"


class Sender:
    """One request to the target; returns (outcome, cold start)."""

    def __init__(self, spec: LoadSpec, client: Any):
        self.spec = spec
        self.client = client
        if spec.target == "lambda":
            name, _, qualifier = spec.name.partition(":")
            self.function = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}

    @sends("sagemaker-runtime", "InvokeEndpoint")
    @sends("lambda", "Invoke")
    def __call__(self, payload: Payload) -> tuple[str, bool]:
        if self.spec.target == "endpoint":
            response = self.client.invoke_endpoint(
                EndpointName=self.spec.name, Body=payload.body, ContentType=payload.content_type, Accept=JSON
            )
            response["Body"].read()
            return "ok", False
        event = payload.event if payload.event is not None else {"image_b64": base64.b64encode(payload.body).decode()}
        response = self.client.invoke(**self.function, Payload=json.dumps(event).encode(), LogType="Tail")
        body = response["Payload"].read()
        log = base64.b64decode(response.get("LogResult") or "").decode("utf-8", "replace")
        cold = INIT_DURATION.search(log) is not None
        if response.get("FunctionError"):
            return "5xx", cold
        status = answer_status(body)
        return ("ok" if status < 400 else "4xx" if status < 500 else "5xx"), cold


def answer_status(body: bytes) -> int:
    """The HTTP status a function's answer carries (`statusCode`, API Gateway's proxy shape), 200 when it carries
    none. Any function may be the target: an answer that is not JSON, or is nested past Python's recursion limit,
    is an answer without a status, not a crash of the load test."""
    try:
        return int(json.loads(body).get("statusCode", 200))
    except (ValueError, AttributeError, TypeError, RecursionError):
        return 200


class InstancePoller:
    """The endpoint's instance count over time (DescribeEndpoint), recorded when it changes."""

    def __init__(self, sagemaker: Any, endpoint: str):
        self.sagemaker = sagemaker
        self.endpoint = endpoint
        self.points: list[dict[str, float]] = []
        self.current: int | None = None

    @sends("sagemaker", "DescribeEndpoint")
    def poll(self, t: float) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            described = self.sagemaker.describe_endpoint(EndpointName=self.endpoint)
        except (BotoCoreError, ClientError):
            return  # a missed poll leaves the previous count standing
        count = sum(int(v.get("CurrentInstanceCount") or 0) for v in described.get("ProductionVariants") or [])
        if count != self.current or not self.points:
            self.points.append({"t": round(t, 2), "count": count})
        self.current = count


@dataclass
class Snapshot:
    """What the live view shows, every TICK_S."""

    elapsed_s: float  # negative during the warm-up
    duration_s: float
    rate: float  # requests due per second over the last second
    in_flight: int
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    instances: int | None
    waiting: int = 0  # due, waiting for a connection


class LoadRun:
    def __init__(
        self,
        spec: LoadSpec,
        sender: Callable[[Payload], tuple[str, bool]],
        payloads: list[Payload],
        poller: InstancePoller | None,
    ):
        self.spec = spec
        self.sender = sender
        self.payloads = payloads
        self.poller = poller
        self.samples: list[Sample] = []
        self.fresh: list[Sample] = []  # finished since the live view's last tick
        self.window: list[Sample] = []  # the live view's: due in its last LIVE_WINDOW_S seconds
        self.errors = 0  # measured requests that failed, as of the live view's last tick
        self.lock = threading.Lock()
        self.in_flight = 0  # sent, not answered
        self.waiting = 0  # due, waiting for a connection
        self.concurrency: list[dict[str, float]] = []  # lambda: executions at once, sampled
        self.started = 0.0  # monotonic time of the measured start (the warm-up runs before it)

    def _record(self, sample: Sample) -> None:
        """Keep a finished request (called with the lock held): for the summary, and for the live view's next
        tick, which sees only the samples finished since the last one."""
        self.samples.append(sample)
        self.fresh.append(sample)

    def _one(self, due: float, payload: Payload) -> None:
        sent = time.monotonic()
        waited = sent - (self.started + due)
        with self.lock:
            self.waiting -= 1
            if waited > self.spec.timeout_s:  # the user gave up waiting for a connection
                self._record(Sample(due, self.spec.timeout_s * 1000, None, "dropped"))
                return
            self.in_flight += 1
        try:
            outcome, cold = self.sender(payload)
        except Exception as exc:  # every failure is a data point, never the end of the run
            outcome, cold = _status_of(exc), False
        answered = time.monotonic()
        with self.lock:
            self.in_flight -= 1
            self._record(Sample(due, (answered - self.started - due) * 1000, (answered - sent) * 1000, outcome, cold))

    def snapshot(self, elapsed: float) -> Snapshot:
        """The live view's figures at `elapsed`. The work is the samples finished since the last tick plus those
        due in the last LIVE_WINDOW_S seconds, never the whole run so far: the tool's bookkeeping must not slow
        the requests it measures (they wait for the same lock, and the same CPU)."""
        with self.lock:
            in_flight, waiting = self.in_flight, self.waiting
            fresh, self.fresh = self.fresh, []
        self.errors += sum(1 for s in fresh if s.outcome != "ok" and s.t >= 0)
        self.window = [s for s in self.window + fresh if s.t >= elapsed - LIVE_WINDOW_S]
        recent = sorted(s.latency_ms for s in self.window)
        due_last_second = sum(1 for s in self.window if s.t >= elapsed - 1) + in_flight + waiting
        return Snapshot(
            elapsed,
            self.spec.duration_s,
            due_last_second,
            in_flight,
            percentile(recent, 50),
            percentile(recent, 99),
            self.errors,
            self.poller.current if self.poller else in_flight,
            waiting,
        )

    def _watch(self, stop: threading.Event, on_tick: Callable[[Snapshot], None] | None) -> None:
        next_poll = -math.inf
        while True:
            elapsed = time.monotonic() - self.started
            if self.poller and elapsed >= next_poll:
                self.poller.poll(elapsed)
                next_poll = elapsed + POLL_S
            snapshot = self.snapshot(elapsed)
            if self.spec.target == "lambda":
                if not self.concurrency or self.concurrency[-1]["count"] != snapshot.in_flight:
                    self.concurrency.append({"t": round(elapsed, 2), "count": snapshot.in_flight})
            if on_tick:
                on_tick(snapshot)
            if stop.wait(TICK_S):
                return

    def payload_for(self, index: int, draw: random.Random) -> Payload:
        if self.spec.order == "random":
            return draw.choice(self.payloads)
        return self.payloads[index % len(self.payloads)]

    def run(self, on_tick: Callable[[Snapshot], None] | None = None) -> None:
        due_times = schedule(self.spec)
        draw = random.Random()
        stop = threading.Event()
        self.started = time.monotonic() + self.spec.warmup_s
        watcher = threading.Thread(target=self._watch, args=(stop, on_tick), daemon=True, name="loadtest-watch")
        watcher.start()
        pool = ThreadPoolExecutor(max_workers=self.spec.max_in_flight, thread_name_prefix="loadtest")
        try:
            for index, due in enumerate(due_times):
                delay = self.started + due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                with self.lock:
                    self.waiting += 1
                pool.submit(self._one, due, self.payload_for(index, draw))
            remaining = self.started + self.spec.duration_s - time.monotonic()
            if remaining > 0:  # a ramp from 0 ends with a gap; the run still lasts its duration
                time.sleep(remaining)
        finally:
            pool.shutdown(wait=True, cancel_futures=False)
            stop.set()
            watcher.join()
        if self.poller:
            self.poller.poll(time.monotonic() - self.started)


def window_s(requests: int, duration_s: float) -> int:
    """The timeline's trailing window: about WINDOW_REQUESTS requests at the mean rate, within WINDOW_S."""
    mean_rate = requests / duration_s if duration_s else 0
    wanted = WINDOW_REQUESTS / mean_rate if mean_rate else WINDOW_S[1]
    return int(min(max(math.ceil(wanted), WINDOW_S[0]), WINDOW_S[1]))


def timeline(samples: list[Sample], duration_s: float) -> list[dict[str, Any]]:
    """Per-second rows (by due time): requests due, ok, errors (and by class), and the latency percentiles of
    every request due in the trailing window ending with that second (None where it holds too few samples:
    MIN_SAMPLES)."""
    seconds = max(1, math.ceil(duration_s))
    buckets: list[list[Sample]] = [[] for _ in range(seconds)]
    for sample in samples:
        buckets[min(int(sample.t), seconds - 1)].append(sample)
    window = window_s(len(samples), duration_s)
    rows = []
    for second, bucket in enumerate(buckets):
        latencies = [s.latency_ms for b in buckets[max(0, second - window + 1) : second + 1] for s in b]
        ok = sum(1 for s in bucket if s.outcome == "ok")
        row: dict[str, Any] = {
            "t": second,
            "requests": len(bucket),
            "ok": ok,
            "errors": len(bucket) - ok,
            "by_outcome": {kind: sum(1 for s in bucket if s.outcome == kind) for kind in OUTCOMES[1:]},
            "window_s": window,
        }
        for name, q in (("p50_ms", 50), ("p90_ms", 90), ("p99_ms", 99)):
            row[name] = _round(percentile(latencies, q)) if len(latencies) >= MIN_SAMPLES[name] else None
        rows.append(row)
    return rows


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    figures = {name: _round(percentile(values, q)) for name, q in (("p50", 50), ("p90", 90), ("p99", 99))}
    figures["max"] = _round(max(values)) if values else None
    return figures


def summarize(run: LoadRun) -> dict[str, Any]:
    """The figures of the measured requests (the warm-up's are left out)."""
    spec = run.spec
    samples = sorted((s for s in run.samples if s.t >= 0), key=lambda s: s.t)
    counts = {kind: sum(1 for s in samples if s.outcome == kind) for kind in OUTCOMES}
    requests = len(samples)
    sent = [s for s in samples if s.service_ms is not None]
    failed = requests - counts["ok"]
    result: dict[str, Any] = {
        "target": spec.target,
        "name": spec.name,
        "rate": {"start": spec.start_rate, "end": spec.end_rate},
        "duration_s": spec.duration_s,
        "warmup_s": spec.warmup_s,
        "timeout_s": spec.timeout_s,
        "max_in_flight": spec.max_in_flight,
        "requests": requests,
        "ok": counts["ok"],
        "dropped": counts["dropped"],
        "offered_rps": round(requests / spec.duration_s, 2),
        "achieved_rps": round(len(sent) / spec.duration_s, 2),
        "latency_ms": _percentiles([s.latency_ms for s in samples]),
        "service_ms": _percentiles([s.service_ms for s in sent if s.service_ms is not None]),
        "ok_latency_ms": _percentiles([s.latency_ms for s in samples if s.outcome == "ok"]),
        "errors": {kind: counts[kind] for kind in ERROR_CLASSES},
        "error_percent": round(100 * failed / requests, 2) if requests else 0.0,
        "warmup_requests": sum(1 for s in run.samples if s.t < 0),
        "instances": run.poller.points if run.poller else run.concurrency,
        "instances_source": "DescribeEndpoint CurrentInstanceCount"
        if run.poller
        else "executions in flight, seen by the client",
        "timeline": timeline(samples, spec.duration_s),
    }
    if spec.target == "lambda":
        cold = [s.latency_ms for s in samples if s.outcome == "ok" and s.cold]
        warm = [s.latency_ms for s in samples if s.outcome == "ok" and not s.cold]
        result["cold_starts"] = {
            "count": len(cold),
            "p50_ms": _round(percentile(cold, 50)),
            "max_ms": _round(max(cold)) if cold else None,
            "warm_p50_ms": _round(percentile(warm, 50)),
        }
    return result


SAMPLE_COLUMNS = ("due_s", "latency_ms", "service_ms", "outcome", "cold", "warmup")


SAMPLES_HEADER = ",".join(SAMPLE_COLUMNS)


def check_samples_path(path: Path) -> None:
    """`--samples FILE` is checked before any request: its folder exists, and FILE is new or a samples CSV this
    tool wrote earlier (same header line), never a symlink, a device, a folder or a file of the user's."""
    from mlops_cli.files import existing_head

    first = existing_head(path, "--samples", len(SAMPLES_HEADER) + 1)
    if first is not None and first != (SAMPLES_HEADER + "\n").encode():
        raise UsageError(
            f"--samples {path}: the file exists and is not a samples CSV written by mlops; name a new file",
            hint="mlops only replaces a samples file it wrote (first line: " + SAMPLES_HEADER + ")",
        )


def write_samples(path: Path, samples: list[Sample]) -> None:
    """`--samples FILE`: every request as one CSV row, in due order (warm-up rows included and marked), written
    whole or not at all. FILE is checked again first: it may have changed while the load ran."""
    check_samples_path(path)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(SAMPLE_COLUMNS)
    for s in sorted(samples, key=lambda s: s.t):
        service = "" if s.service_ms is None else f"{s.service_ms:.3f}"
        writer.writerow([f"{s.t:.4f}", f"{s.latency_ms:.3f}", service, s.outcome, int(s.cold), int(s.t < 0)])
    data = text.getvalue().encode()
    try:
        write_atomically(path, lambda stream: stream.write(data))
    except OSError as exc:  # the folder went away or filled up while the load ran
        raise OperationError(f"--samples {path}: not written ({exc.strerror or exc})") from None


def failed_limits(result: dict[str, Any], limits: dict[str, float]) -> list[str]:
    """The --fail-on conditions the result breaks, as text ('p99 812.0 ms > 500 ms')."""
    broken = []
    if limits and not result["requests"]:  # a run that measured nothing shows nothing is fine
        return ["no request was measured"]
    for name, limit in limits.items():
        if name == "errors":
            if result["error_percent"] > limit:
                broken.append(f"errors {result['error_percent']:g} % > {limit:g} %")
            continue
        value = result["latency_ms"].get(name)
        if value is None or value > limit:  # no request measured at all fails a latency limit too
            broken.append(f"{name} {'n/a' if value is None else f'{value:g} ms'} > {limit:g} ms")
    return broken


SETUP_METRIC_SLACK_S = 120  # ModelSetupTime is per minute: the minutes around the run


@sends("cloudwatch", "GetMetricStatistics")
def serverless_cold_starts(cloudwatch: Any, endpoint: str, variants: list[str], started: float) -> dict[str, Any]:
    """A serverless endpoint's cold starts during the run, from the metric SageMaker publishes for them
    (ModelSetupTime, microseconds). On AWS the minute's datapoint may take a minute or two to appear."""
    from datetime import UTC, datetime

    count, longest = 0, None
    for variant in variants:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="ModelSetupTime",
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
            StartTime=datetime.fromtimestamp(started - SETUP_METRIC_SLACK_S, UTC),
            EndTime=datetime.fromtimestamp(time.time() + SETUP_METRIC_SLACK_S, UTC),
            Period=60,
            Statistics=["SampleCount", "Maximum"],
        )["Datapoints"]
        count += int(sum(point["SampleCount"] for point in points))
        maxima = [point["Maximum"] / 1000 for point in points]
        if maxima:
            longest = max(maxima + ([longest] if longest is not None else []))
    return {"count": count, "max_setup_ms": _round(longest), "source": "CloudWatch ModelSetupTime"}


@sends("sagemaker", "DescribeEndpoint")  # the endpoint checked before the first request
@sends("lambda", "GetFunction")  # the function checked before the first request
@sends_via(Sender.__call__, InstancePoller.poll, serverless_cold_starts)
def run_load(
    spec: LoadSpec,
    client_for: Callable[[str], Any],
    payloads: list[Payload],
    on_tick: Callable[[Snapshot], None] | None = None,
) -> tuple[dict[str, Any], list[Sample]]:
    """Run the load; the summary (see module doc) and the raw samples. Fails before sending when the target does
    not exist."""
    from botocore.exceptions import ClientError

    check_spec(spec)
    if spec.target == "endpoint":
        sagemaker = client_for("sagemaker")
        try:
            described = sagemaker.describe_endpoint(EndpointName=spec.name)
        except ClientError:
            raise OperationError(
                f"endpoint '{spec.name}' not found", hint="deploy it with `mlops deploy`, or pass --endpoint NAME"
            ) from None
        status = described["EndpointStatus"]
        if status not in ("InService", "Updating"):
            raise OperationError(f"endpoint '{spec.name}' is {status}; it takes requests when InService")
        sender = Sender(spec, client_for("sagemaker-runtime"))
        poller: InstancePoller | None = InstancePoller(sagemaker, spec.name)
        serverless = [
            v["VariantName"] for v in described.get("ProductionVariants") or [] if v.get("CurrentServerlessConfig")
        ]
    else:
        name, _, qualifier = spec.name.partition(":")
        lam = client_for("lambda")
        try:
            lam.get_function(FunctionName=name, **({"Qualifier": qualifier} if qualifier else {}))
        except ClientError:
            raise OperationError(
                f"Lambda function '{spec.name}' not found",
                hint="deploy it with `mlops lambda deploy`, or pass --function NAME",
            ) from None
        sender = Sender(spec, lam)
        poller = None
        serverless = []
    run = LoadRun(spec, sender, payloads, poller)
    started = time.time()
    run.run(on_tick)
    result = summarize(run)
    if serverless:
        result["cold_starts"] = serverless_cold_starts(client_for("cloudwatch"), spec.name, serverless, started)
    return result, run.samples
