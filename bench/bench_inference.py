"""Inference latency: the SageMaker handlers beside a bare forward pass of the same model, in one run.

  bare forward     model.network(x) under torch.inference_mode() on an already preprocessed 1x3xSxS tensor
  handler (small)  input_fn + predict_fn + output_fn on a JPEG body of the size the eval transform resizes to
                   (what a client of an S-pixel model sends: 109x73 for S = 64)
  handler (photo)  the same on a 640x427 camera photo (scikit-learn's china.jpg re-encoded)

The model is a random-init model dir written by save_model_dir and loaded by model_fn, so the handlers run
exactly as served. The variants are timed interleaved, in a shuffled order each round, so machine load
hits them alike; "paired" is the median over rounds of each variant's time over the bare forward pass of the
same round. Also printed: the median time of each handler stage, to show where the time goes.

Target: handler (small) p50 <= 1.15x bare forward p50.

    python bench/bench_inference.py [--arch resnet18] [--image-size 64] [--rounds 300] [--threads N]
"""

from __future__ import annotations

import argparse
import io
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from model import inference  # noqa: E402
from model.artifact import save_model_dir  # noqa: E402
from model.data import EVAL_RESIZE_RATIO  # noqa: E402
from model.images import decode_image  # noqa: E402
from model.network import build_model  # noqa: E402

TARGET = 1.15
NUM_CLASSES = 133  # the dog-breed head


def jpeg_bodies(image_size: int) -> dict[str, bytes]:
    from sklearn.datasets import load_sample_images

    photo = Image.fromarray(load_sample_images().images[0])  # china.jpg, 640x427
    resize_to = round(image_size * EVAL_RESIZE_RATIO)
    small = photo.resize((round(photo.width * resize_to / photo.height), resize_to), Image.BILINEAR)
    bodies = {}
    for name, image in (("small", small), ("photo", photo)):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        bodies[name] = buffer.getvalue()
    return bodies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    with tempfile.TemporaryDirectory() as model_dir:
        network = build_model(args.arch, NUM_CLASSES, pretrained=False, freeze_backbone=False, hidden_units=0)
        classes = [f"{index + 1:03d}.class_{index}" for index in range(NUM_CLASSES)]
        save_model_dir(
            model_dir, network, arch=args.arch, class_names=classes, image_size=args.image_size, hidden_units=0
        )
        model = inference.model_fn(model_dir)

    bodies = jpeg_bodies(args.image_size)
    tensor = model.transform(decode_image(bodies["small"])).unsqueeze(0).to(model.device)

    def bare() -> None:
        with torch.inference_mode():
            model.network(tensor)

    def handler(body: bytes):
        def run() -> None:
            inference.output_fn(inference.predict_fn(inference.input_fn(body, "image/jpeg"), model), "application/json")

        return run

    variants = {
        "bare forward": bare,
        "handler (small)": handler(bodies["small"]),
        "handler (photo)": handler(bodies["photo"]),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for round_index in range(args.warmup + args.rounds):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            variants[name]()
            elapsed = time.perf_counter() - start
            if round_index >= args.warmup:
                times[name].append(elapsed)

    print(
        f"{args.arch} at {args.image_size} px, {NUM_CLASSES} classes, batch 1, {torch.get_num_threads()} torch "
        f"threads, {args.rounds} interleaved rounds; bodies: small {len(bodies['small'])} B "
        f"({Image.open(io.BytesIO(bodies['small'])).size[0]}x{Image.open(io.BytesIO(bodies['small'])).size[1]}), "
        f"photo {len(bodies['photo'])} B (640x427)"
    )
    bare = times["bare forward"]
    bare_p50 = statistics.median(bare)
    # Also the median over rounds of (variant / bare forward of the same round): steadier when other
    # processes load the machine unevenly over the run.
    print(f"{'':18} {'p50 ms':>8} {'p99 ms':>8} {'p50 x bare':>11} {'paired x bare':>14}")
    for name, values in times.items():
        p50 = statistics.median(values)
        paired = statistics.median(value / base for value, base in zip(values, bare, strict=True))
        print(f"{name:18} {p50 * 1e3:8.2f} {percentile(values, 0.99) * 1e3:8.2f} {p50 / bare_p50:11.3f} {paired:14.3f}")

    print("handler stages (median ms):")
    for name, body in bodies.items():
        print(f"  {name:6} " + "  ".join(f"{stage} {ms:.3f}" for stage, ms in stage_medians(model, body)))
    ratio = statistics.median(times["handler (small)"]) / bare_p50
    verdict = "OK" if ratio <= TARGET else "OVER TARGET"
    print(f"target: handler (small) p50 <= {TARGET}x bare forward -> {ratio:.3f}x {verdict}")


def stage_medians(model, body: bytes, rounds: int = 100) -> list[tuple[str, float]]:
    """The handler's work split by stage (input_fn, decode, transform, forward+rank, output_fn)."""
    stages: dict[str, list[float]] = {
        "input_fn": [],
        "decode": [],
        "transform": [],
        "forward+rank": [],
        "output_fn": [],
    }
    for _ in range(rounds):
        marks = [time.perf_counter()]
        requests = inference.input_fn(body, "image/jpeg")
        marks.append(time.perf_counter())
        image = decode_image(requests[0].data, draft_short_side=model.draft_short_side)
        marks.append(time.perf_counter())
        model.transform(image)
        marks.append(time.perf_counter())
        prediction = inference.predict_fn(requests, model)  # decodes again: subtract the two stages above
        marks.append(time.perf_counter())
        inference.output_fn(prediction, "application/json")
        marks.append(time.perf_counter())
        durations = [b - a for a, b in itertools.pairwise(marks)]
        durations[3] -= durations[1] + durations[2]
        for stage, duration in zip(stages, durations, strict=True):
            stages[stage].append(duration)
    return [(stage, statistics.median(values) * 1e3) for stage, values in stages.items()]


if __name__ == "__main__":
    main()
