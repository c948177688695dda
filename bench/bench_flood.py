"""Flood a local model server with worst-case valid requests; its peak memory against its idle memory.

The server is the local endpoint's (mlops_cli/local/sagemaker/model_server.py, started directly on a random-init model
directory, with its default worker count: one per core). Clients keep many more requests in flight than it has
workers, each request one of the most expensive a client may validly send:

  progressive   one progressive JPEG at the pixel limit (6000x6000: libjpeg keeps every coefficient)
  png16         one 16-bit greyscale PNG at the pixel limit (decoded, widened, scaled, made RGB)
  png-rgb       one RGB PNG at the pixel limit
  batch         a JSON batch of as many pixel-limit progressive JPEGs as the body limit allows (up to 32)
  big-body      one noisy JPEG just under the 6 MB body limit

The server's resident memory (VmRSS from /proc) is sampled every 10 ms. Target: peak <= idle + 1 GiB, and no
5xx other than the documented 503 (queue full). Prints one line per request kind and a verdict.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlops_cli.local.sagemaker.model_server import MAX_BODY_BYTES, STATUS_FILE  # noqa: E402
from model.artifact import save_model_dir  # noqa: E402
from model.images import MAX_IMAGE_PIXELS  # noqa: E402
from model.inference import MAX_BATCH_SIZE  # noqa: E402
from model.network import build_model  # noqa: E402

GIB = 1024**3
TARGET_BYTES = GIB
SIDE = int(MAX_IMAGE_PIXELS**0.5)  # 6000


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def worst_case_requests() -> dict[str, tuple[bytes, str]]:
    """(body, content type) per kind; each valid, each as costly to decode as the limits allow."""
    gradient = Image.linear_gradient("L").resize((SIDE, SIDE))
    colour = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90), gradient))
    progressive = encode(colour, "JPEG", quality=40, progressive=True)
    sixteen = Image.fromarray((np.asarray(gradient, dtype=np.uint16) * 257).astype(np.uint16))
    png16 = encode(sixteen, "PNG", compress_level=1)
    png_rgb = encode(colour, "PNG", compress_level=1)
    item = {"image_b64": base64.b64encode(progressive).decode()}
    count = min(MAX_BATCH_SIZE, (MAX_BODY_BYTES - 2) // (len(json.dumps(item)) + 1))
    batch = json.dumps([item] * count).encode()
    rng = np.random.default_rng(0)
    side = 2600
    noisy = encode(Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)), "JPEG", quality=95)
    while len(noisy) > MAX_BODY_BYTES:
        side -= 100
        noisy = encode(Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)), "JPEG", quality=95)
    for name, body in (("png16", png16), ("png-rgb", png_rgb)):
        assert len(body) <= MAX_BODY_BYTES, (name, len(body))
    return {
        "progressive": (progressive, "image/jpeg"),
        "png16": (png16, "image/png"),
        "png-rgb": (png_rgb, "image/png"),
        f"batch ({count})": (batch, "application/json"),
        "big-body": (noisy, "image/jpeg"),
    }


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def post(port: int, body: bytes, content_type: str) -> tuple[int, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("POST", "/invocations", body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def start_server(model_dir: Path, work_dir: Path) -> tuple[subprocess.Popen, int, int]:
    env = {**os.environ, "SAGEMAKER_PROGRAM": "inference.py"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_cli.local.sagemaker.model_server",
            "--model-dir",
            str(model_dir),
            "--work-dir",
            str(work_dir),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work_dir / "server.log", "wb"),
    )
    deadline = time.monotonic() + 300
    while not (work_dir / STATUS_FILE).exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((work_dir / "server.log").read_text()[-2000:])
        time.sleep(0.1)
    status = json.loads((work_dir / STATUS_FILE).read_text())
    return process, status["port"], status["workers"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to flood")
    parser.add_argument("--clients", type=int, default=0, help="concurrent clients (default: 8 per worker)")
    args = parser.parse_args()

    requests = worst_case_requests()
    with tempfile.TemporaryDirectory() as temporary:
        model_dir, work_dir = Path(temporary, "model"), Path(temporary, "work")
        work_dir.mkdir()
        torch.manual_seed(0)
        network = build_model("resnet18", 10, pretrained=False, freeze_backbone=False, hidden_units=0)
        save_model_dir(
            model_dir,
            network,
            arch="resnet18",
            class_names=[f"{i + 1:03d}.c{i}" for i in range(10)],
            image_size=64,
            hidden_units=0,
        )
        process, port, workers = start_server(model_dir, work_dir)
        try:
            small = encode(Image.new("RGB", (64, 64), (90, 120, 150)), "JPEG")
            for _ in range(3):  # warm: the first requests build kernels and caches
                assert post(port, small, "image/jpeg")[0] == 200
            idle = rss_bytes(process.pid)
            peak = idle
            stop = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not stop.is_set():
                    peak = max(peak, rss_bytes(process.pid))
                    stop.wait(0.01)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            clients = args.clients or 8 * workers
            kinds = list(requests)
            statuses: dict[str, Counter] = {kind: Counter() for kind in kinds}
            latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
            lock = threading.Lock()
            deadline = time.monotonic() + args.seconds

            def client(index: int) -> None:
                turn = index
                while time.monotonic() < deadline:
                    kind = kinds[turn % len(kinds)]
                    turn += 1
                    body, content_type = requests[kind]
                    try:
                        status, elapsed = post(port, body, content_type)
                    except OSError as exc:  # a connection the server dropped counts against it
                        status, elapsed = f"{type(exc).__name__}", 0.0
                    with lock:
                        statuses[kind][status] += 1
                        if status == 200:
                            latencies[kind].append(elapsed)

            threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            stop.set()
            sampler.join()
        finally:
            process.terminate()
            process.wait(60)

    print(f"model server: {workers} workers (one per core), {clients} clients for {args.seconds:.0f} s")
    print(f"{'request':16} {'body':>9} {'200':>6} {'503':>6} {'other':>6} {'p50 s (200)':>12}")
    for kind in kinds:
        body, _ = requests[kind]
        counts = statuses[kind]
        other = sum(count for status, count in counts.items() if status not in (200, 503))
        p50 = sorted(latencies[kind])[len(latencies[kind]) // 2] if latencies[kind] else float("nan")
        print(f"{kind:16} {len(body) / 1e6:8.2f}M {counts[200]:6} {counts[503]:6} {other:6} {p50:12.2f}")
    unexpected = sum(
        (
            Counter({status: count for status, count in counter.items() if status not in (200, 503)})
            for counter in statuses.values()
        ),
        Counter(),
    )
    print(
        f"RSS idle {idle / GIB:.2f} GiB, peak {peak / GIB:.2f} GiB, peak - idle {(peak - idle) / GIB:.2f} GiB "
        f"(target <= {TARGET_BYTES / GIB:.0f} GiB); statuses other than 200/503: {dict(unexpected) or 'none'}"
    )
    verdict = "OK" if peak - idle <= TARGET_BYTES and not unexpected else "OVER TARGET"
    print(f"target: peak <= idle + 1 GiB, no 5xx but 503 -> {verdict}")


if __name__ == "__main__":
    main()
