"""`mlops loadtest` against a reference open-loop generator, at the same rates against the same local server.

Locust and k6 are not installable here, so the reference is a minimal open-loop generator written apart from
mlops's scheduler and measurement: request k is due at k / rate, due requests queue for the next of a fixed set
of worker threads, latency counts from the due time. It sends through a boto3 client of its own, the same HTTP
stack as mlops (SigV4 signing and parsing cost a few ms of CPU per request: on a loaded 2-core machine a bare
http.client generator has a visibly lower p99 for that reason alone, which is not what is compared here).
Both run against one threaded HTTP server answering InvokeEndpoint's path with a known service time
(SERVICE_MS, and STALL_MS for every STALL_EVERY-th request), so the p99 is set by the server, not by either
generator.

For each rate it runs both generators in turn `--repeats` times (machine load drifts; alternating spreads it
over both) and prints the median achieved rate (answered requests / duration) and the median p99 latency of
each, and their ratio; "yes" when both ratios are within 10 %.

    python bench/bench_loadgen_reference.py [--rates 20,50,100] [--duration 10] [--repeats 3] [--connections 16]
"""

from __future__ import annotations

import argparse
import itertools
import math
import queue
import statistics
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_loadgen import Trivial, client  # noqa: E402

from mlops_cli.services import loadtest  # noqa: E402

SERVICE_MS = 10.0
STALL_MS = 150.0
STALL_EVERY = 40  # 2.5 % of the requests: the p99 lands on a stall
PAYLOAD = b"\x89PNG\r\n\x1a\n" + b"\0" * 600  # a digit PNG's size


class Served(Trivial):
    counter = itertools.count(1)

    def serve(self) -> None:
        stall = next(self.counter) % STALL_EVERY == 0
        time.sleep((STALL_MS if stall else SERVICE_MS) / 1000)


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def reference(url: str, rate: float, duration: float, connections: int) -> tuple[float, float]:
    """(answered requests / s, p99 ms from the due time) of the reference generator."""
    runtime = client(url, connections)
    due_times: queue.Queue[float | None] = queue.Queue()
    latencies: list[float] = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.05

    def worker() -> None:
        while (due := due_times.get()) is not None:
            answer = runtime.invoke_endpoint(EndpointName="bench", Body=PAYLOAD, ContentType="image/png")
            answer["Body"].read()
            finished = time.perf_counter()
            with lock:
                latencies.append((finished - start - due) * 1000)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in workers:
        thread.start()
    for k in range(int(rate * duration)):
        due = k / rate
        delay = start + due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        due_times.put(due)
    for _ in workers:
        due_times.put(None)
    for thread in workers:
        thread.join()
    return len(latencies) / duration, p99(latencies)


def mlops(url: str, rate: float, duration: float, connections: int) -> tuple[float, float]:
    """(answered requests / s, p99 ms from the due time) of `mlops loadtest`'s own generator."""
    runtime = client(url, connections)
    spec = loadtest.LoadSpec("endpoint", "bench", rate, rate, duration, connections)
    run = loadtest.LoadRun(spec, loadtest.Sender(spec, runtime), [loadtest.Payload(PAYLOAD, "image/png")], None)
    run.run()
    result = loadtest.summarize(run)
    answered = result["requests"] - result["dropped"] - result["errors"]["timeout"]
    return answered / duration, result["latency_ms"]["p99"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,50,100")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Served)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    mlops(url, 5, 1.0, 2)  # warm imports and the connection pool
    print(f"server: {SERVICE_MS:g} ms, every {STALL_EVERY}th request {STALL_MS:g} ms; {args.duration:g} s per run")
    print(
        f"{'rate/s':>7} | {'achieved/s mlops':>16} {'reference':>10} {'ratio':>6} | "
        f"{'p99 ms mlops':>12} {'reference':>10} {'ratio':>6} | within 10 %"
    )
    for rate in (float(r) for r in args.rates.split(",")):
        runs: dict[str, list[tuple[float, float]]] = {"mlops": [], "reference": []}
        for _ in range(args.repeats):
            runs["mlops"].append(mlops(url, rate, args.duration, args.connections))
            runs["reference"].append(reference(url, rate, args.duration, args.connections))
        ours, theirs = (
            tuple(statistics.median(value[i] for value in runs[name]) for i in (0, 1))
            for name in ("mlops", "reference")
        )
        ratios = (ours[0] / theirs[0], ours[1] / theirs[1])
        agree = all(abs(r - 1) <= 0.10 for r in ratios)
        print(
            f"{rate:7.0f} | {ours[0]:16.1f} {theirs[0]:10.1f} {ratios[0]:6.2f} | "
            f"{ours[1]:12.1f} {theirs[1]:10.1f} {ratios[1]:6.2f} | {'yes' if agree else 'NO'}"
        )
    server.shutdown()


if __name__ == "__main__":
    main()
