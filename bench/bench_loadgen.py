"""The load generator's own ceiling: how many requests/s `mlops loadtest` can issue on this machine.

The target is a trivial local handler (a threaded HTTP server answering every InvokeEndpoint with a fixed
JSON body at once), so what limits the rate is the generator: the scheduler thread, the thread pool and
boto3's request signing and parsing. Side by side, the baseline: a closed loop of the same number of
threads calling the same boto3 client as fast as they can (the client's own ceiling, no scheduling).

For each offered rate it prints what was achieved (completed requests / duration), the dropped share and
p50/p99 latency; the ceiling is the highest offered rate at which >= 95 % completed and none was dropped.
Above it, latencies reported by `mlops loadtest` measure the generator, not the endpoint.

    python bench/bench_loadgen.py [--rates 50,100,200,400,800] [--duration 5] [--max-in-flight 32]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlops_cli.services import loadtest  # noqa: E402

BODY = b'{"predictions": [{"top_k": [{"label": "zero", "index": 0, "probability": 1.0}]}]}'


class Trivial(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def serve(self) -> None:
        """The work of one request: none here (subclasses give it a service time)."""

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.serve()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


def client(url: str, pool: int):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, max_pool_connections=pool),
    )


def closed_loop(runtime, threads: int, seconds: float, payload: loadtest.Payload) -> float:
    """Requests/s of `threads` threads each calling as fast as it can (the baseline)."""
    count = [0] * threads
    stop = time.monotonic() + seconds

    def work(index: int) -> None:
        while time.monotonic() < stop:
            runtime.invoke_endpoint(EndpointName="bench", Body=payload.body, ContentType=payload.content_type)[
                "Body"
            ].read()
            count[index] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(count) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="50,100,200,400,800")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-in-flight", type=int, default=32)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trivial)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    runtime = client(url, args.max_in_flight)
    payload = loadtest.Payload(b"\x89PNG\r\n\x1a\n" + b"\0" * 600, "image/png")  # a digit PNG's size
    closed_loop(runtime, 2, 1.0, payload)  # warm the connection pool
    baseline = closed_loop(runtime, args.max_in_flight, args.duration, payload)
    print(f"baseline: closed loop, {args.max_in_flight} threads, same client: {baseline:.0f} requests/s")
    print(
        f"{'offered/s':>10} {'achieved/s':>11} {'x offered':>10} {'x baseline':>11} {'dropped':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7}"
    )
    ceiling = 0.0
    for rate in (float(r) for r in args.rates.split(",")):
        spec = loadtest.LoadSpec("endpoint", "bench", rate, rate, args.duration, args.max_in_flight)
        run = loadtest.LoadRun(spec, loadtest.Sender(spec, runtime), [payload], poller=None)
        run.run()
        result = loadtest.summarize(run)
        achieved = result["ok"] / args.duration
        if result["dropped"] == 0 and achieved >= 0.95 * rate:
            ceiling = rate
        print(
            f"{rate:10.0f} {achieved:11.1f} {achieved / rate:10.2f} {achieved / baseline:11.2f} "
            f"{result['dropped']:8d} {result['latency_ms']['p50']:7.1f} {result['latency_ms']['p99']:7.1f}"
        )
    print(f"ceiling: {ceiling:.0f} requests/s offered and met (>= 95 % completed, none dropped)")
    server.shutdown()


if __name__ == "__main__":
    main()
