"""What the strict local AWS costs: `mlops data upload` of the digits sample against a local AWS with the model
validation gate (the default) and one without it (MLOPS_LOCAL_STRICT=0), side by side.

Starts both servers (free ports, MLOPS_HOME in a temporary folder) and stops them at the end. Each round uploads
the 1,797 files to a fresh bucket on each server, alternating which goes first so machine load hits both alike;
prints the medians and the ratio strict/lenient (1.00 = no cost). Then times the gate alone (parse + validate,
in-process) on the two requests an upload is made of, and on a CreateTrainingJob.

    .venv/bin/python bench/bench_strict.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCAL_CONFIG = REPO / "configs" / "local.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[3:7])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed


def gate_micro(repeat: int = 300) -> dict[str, float]:
    """Microseconds per request for the gate alone."""
    from mlops_cli.local.core.strict import StrictGate

    gate = StrictGate(delay_s=0)
    signed = "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/{}/aws4_request, SignedHeaders=host, Signature=0"
    png = b"\x89PNG" + b"\x00" * 1500
    training = {
        "TrainingJobName": "bench",
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "AlgorithmSpecification": {"TrainingImage": "x", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/p"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        "Tags": [{"Key": "k", "Value": "v"}],
    }
    cases = {
        "s3 PutObject (1.5 KB PNG)": (
            "PUT",
            "/bench-bucket/data/train/001/x.png",
            "",
            png,
            {
                "HTTP_AUTHORIZATION": signed.format("s3"),
                "CONTENT_TYPE": "image/png",
                "HTTP_X_AMZ_CHECKSUM_SHA256": "AAAA",
            },
        ),
        "s3 ListObjectsV2": (
            "GET",
            "/bench-bucket",
            "list-type=2&prefix=data/",
            b"",
            {"HTTP_AUTHORIZATION": signed.format("s3")},
        ),
        "sagemaker CreateTrainingJob": (
            "POST",
            "/",
            "",
            json.dumps(training).encode(),
            {
                "HTTP_AUTHORIZATION": signed.format("sagemaker"),
                "CONTENT_TYPE": "application/x-amz-json-1.1",
                "HTTP_X_AMZ_TARGET": "SageMaker.CreateTrainingJob",
            },
        ),
    }
    timings = {}
    for name, (method, path, query, body, extra) in cases.items():
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "4599",
            "HTTP_HOST": "127.0.0.1:4599",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "CONTENT_LENGTH": str(len(body)),
            **extra,
        }
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        service = extra["HTTP_AUTHORIZATION"].split("/")[3]
        gate.check(environ, body, service, headers)  # warm: models loaded, patterns compiled
        start = time.perf_counter()
        for _ in range(repeat):
            gate.check(environ, body, service, headers)
        timings[name] = (time.perf_counter() - start) / repeat * 1e6
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-strict-") as tmp:
        root = Path(tmp)
        from mlops_cli.services.sample_data import write_digits_imagefolder

        write_digits_imagefolder(root / "digits")
        base = {**os.environ, "MLOPS_HOME": str(root / "home"), "PYTHONPATH": str(REPO)}
        servers = {}
        for label, strict in (("strict", "1"), ("lenient", "0")):
            url = f"http://127.0.0.1:{free_port()}"
            servers[label] = {**base, "MLOPS_AWS__ENDPOINT_URL": url, "MLOPS_LOCAL_STRICT": strict}
        cli = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "-q"]
        for env in servers.values():
            run(cli + ["local", "up"], env)
        times: dict[str, list[float]] = {label: [] for label in servers}
        try:
            for round_index in range(args.rounds):
                order = list(servers) if round_index % 2 == 0 else list(reversed(servers))
                for label in order:
                    env = {**servers[label], "MLOPS_S3__BUCKET": f"bench-{label}-{round_index}"}
                    times[label].append(run(cli + ["data", "upload", str(root / "digits")], env))
        finally:
            for env in servers.values():
                subprocess.run(cli + ["local", "down"], env=env, capture_output=True)
    medians = {label: statistics.median(values) for label, values in times.items()}
    print(f"mlops data upload, digits sample (1,797 files), {args.rounds} rounds, median seconds")
    for label, median in medians.items():
        print(f"  {label:8s} {median:6.2f} s   ({', '.join(f'{t:.2f}' for t in times[label])})")
    print(f"  ratio strict/lenient: {medians['strict'] / medians['lenient']:.2f}")
    print("the gate alone (parse + validate, in-process), microseconds per request")
    for name, micros in gate_micro().items():
        print(f"  {name:30s} {micros:8.0f} us")


if __name__ == "__main__":
    main()
