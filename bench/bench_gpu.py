"""The GPU path, ready to run where CUDA is: engine training throughput (AMP and channels-last, as the engine uses
them on CUDA) and the inference handlers' latency on the GPU, each next to the same figure on the CPU.

Where CUDA is not available it says "no GPU" and exits 0. The two devices run in separate child processes of this
script (the CPU one with CUDA_VISIBLE_DEVICES empty), on the digits sample at --image-size, for --steps optimizer
steps (rounded up to whole epochs), then the handlers (input_fn + predict_fn + output_fn on a JPEG body) of the
model each trained, --requests times after a warm-up.

    .venv/bin/python bench/bench_gpu.py [--steps 300] [--image-size 64] [--batch-size 64] [--arch resnet18]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def measure(args: argparse.Namespace) -> dict:
    """In a child process: train on this process's device, then time the handlers; returns the figures."""
    import torch
    from PIL import Image

    from mlops_cli.services.sample_data import write_digits_imagefolder
    from model import engine, inference
    from model.hyperparameters import TrainConfig

    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        root = Path(tmp)
        write_digits_imagefolder(root / "digits")
        train_images = sum(1 for path in (root / "digits" / "train").rglob("*") if path.is_file())
        epochs = max(1, math.ceil(args.steps / math.ceil(train_images / args.batch_size)))
        config = TrainConfig(
            epochs=epochs,
            batch_size=args.batch_size,
            arch=args.arch,
            pretrained=False,
            freeze_backbone=False,
            hidden_units=0,
            image_size=args.image_size,
            lr_schedule="cosine",
            lr=0.003,
        )
        metrics = engine.run_training(config, root / "digits", root / "model", log=lambda line: None)
        rates = [row["images_per_s"] for row in metrics["epochs"]]
        model = inference.model_fn(str(root / "model"))
        buffer = io.BytesIO()
        Image.new("RGB", (args.image_size * 2, args.image_size * 2), (120, 30, 200)).save(buffer, format="JPEG")
        body = buffer.getvalue()

        def handle() -> None:
            inference.output_fn(inference.predict_fn(inference.input_fn(body, "image/jpeg"), model), "application/json")
            if model.device.type == "cuda":
                torch.cuda.synchronize(model.device)

        for _ in range(20):
            handle()
        latencies = []
        for _ in range(args.requests):
            start = time.perf_counter()
            handle()
            latencies.append(time.perf_counter() - start)
    return {
        "device": str(model.device),
        "name": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "epochs": epochs,
        "images_per_s": statistics.median(rates[1:] or rates),
        "test_accuracy": metrics.get("test_acc"),
        "handler_p50_ms": statistics.median(latencies) * 1e3,
        "handler_p99_ms": sorted(latencies)[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))] * 1e3,
    }


def child(args: argparse.Namespace, cpu: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if cpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    argv = [
        sys.executable,
        __file__,
        "--child",
        "--steps",
        str(args.steps),
        "--image-size",
        str(args.image_size),
        "--batch-size",
        str(args.batch_size),
        "--arch",
        args.arch,
        "--requests",
        str(args.requests),
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {'CPU' if cpu else 'GPU'} run failed: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return
    import torch

    if not torch.cuda.is_available():
        print(
            "no GPU: CUDA is not available here, so there is nothing to measure (the CPU figures are in "
            "bench_training.py and bench_inference.py)"
        )
        return
    gpu, cpu = child(args, cpu=False), child(args, cpu=True)
    print(
        f"{args.arch} at {args.image_size} px, batch {args.batch_size}, ~{args.steps} steps ({gpu['epochs']} epochs "
        f"of the digits sample); GPU: {gpu['name']}"
    )
    print(f"{'':10} {'train images/s':>15} {'handler p50 ms':>15} {'handler p99 ms':>15} {'test acc':>9}")
    for label, figures in (("GPU", gpu), ("CPU", cpu)):
        accuracy = figures["test_accuracy"]
        print(
            f"{label:10} {figures['images_per_s']:15.0f} {figures['handler_p50_ms']:15.2f} "
            f"{figures['handler_p99_ms']:15.2f} {accuracy if accuracy is None else f'{accuracy:.3f}':>9}"
        )
    print(
        f"GPU/CPU: training {gpu['images_per_s'] / cpu['images_per_s']:.1f}x, handler latency "
        f"{cpu['handler_p50_ms'] / gpu['handler_p50_ms']:.1f}x faster"
    )


if __name__ == "__main__":
    main()
