"""Inference latency: the SageMaker handlers beside a bare forward pass of the same model, in one run.

  bare forward     model.network(x) under torch.inference_mode() on an already preprocessed 1x3xSxS tensor
  handler (small)  input_fn + predict_fn + output_fn on a JPEG body of the size the eval transform resizes to
                   (what a client of an S-pixel model sends: 37x24 for S = 32)
  handler (photo)  the same on a 640x427 camera photo (scikit-learn's china.jpg re-encoded)
  handler (1 MP)   the same on a 1 megapixel photo (china.jpg enlarged to 1224x816, JPEG quality 90)

Two models, each a random-init model dir written by save_model_dir and loaded by model_fn, so the handlers run
exactly as served: the local config's (configs/local.yaml: resnet18 at 32 px, 10 classes) and the shipped
default's (configs/default.yaml: resnet50 at 224 px, 133 classes). The variants are timed interleaved, in a
shuffled order each round, so machine load hits them alike; "paired" is the median over rounds of each
variant's time over the bare forward pass of the same round (the ratio the targets use). Also printed: the
median time of each handler stage, to show where the time goes.

Targets (paired): local config, handler (small) <= 1.15x and handler (1 MP) <= 1.3x the bare forward;
resnet50 at 224 px, handler (1 MP) <= 1.1x.

    python bench/bench_inference.py [--only local|resnet50] [--rounds 200] [--threads N]
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

REPO = Path(__file__).resolve().parents[1]
# name: (config file the model comes from, rounds relative to --rounds, {variant: paired target})
PRESETS = {
    "local": ("configs/local.yaml", 1.0, {"handler (small)": 1.15, "handler (1 MP)": 1.3}),
    "resnet50": ("configs/default.yaml", 0.2, {"handler (1 MP)": 1.1}),
}
MEGAPIXEL = (1224, 816)


def jpeg_bodies(image_size: int) -> dict[str, bytes]:
    from sklearn.datasets import load_sample_images

    photo = Image.fromarray(load_sample_images().images[0])  # china.jpg, 640x427
    resize_to = round(image_size * EVAL_RESIZE_RATIO)
    small = photo.resize((round(photo.width * resize_to / photo.height), resize_to), Image.BILINEAR)
    megapixel = photo.resize(MEGAPIXEL, Image.BICUBIC)
    bodies = {}
    for name, image in (("small", small), ("photo", photo), ("1 MP", megapixel)):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        bodies[name] = buffer.getvalue()
    return bodies


def model_settings(config: str) -> tuple[str, int, int]:
    """(arch, image size, classes) of the model section of a config file (YAML read without the CLI)."""
    import yaml

    section = yaml.safe_load((REPO / config).read_text())["model"]
    return section["arch"], section["image_size"], section["num_classes"]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(PRESETS), help="run one of the two models (default: both)")
    parser.add_argument("--rounds", type=int, default=200, help="rounds for the local model (resnet50: a fifth)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    verdicts = []
    for name, (config, share, targets) in PRESETS.items():
        if args.only in (None, name):
            verdicts += bench(config, max(10, round(args.rounds * share)), args.warmup, targets)
    print("\n".join(verdicts))


def bench(config: str, rounds: int, warmup: int, targets: dict[str, float]) -> list[str]:
    arch, image_size, num_classes = model_settings(config)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as model_dir:
        network = build_model(arch, num_classes, pretrained=False, freeze_backbone=False, hidden_units=0)
        classes = [f"{index + 1:03d}.class_{index}" for index in range(num_classes)]
        save_model_dir(model_dir, network, arch=arch, class_names=classes, image_size=image_size, hidden_units=0)
        model = inference.model_fn(model_dir)

    bodies = jpeg_bodies(image_size)
    tensor = model.transform(decode_image(bodies["small"])).unsqueeze(0).to(model.device)

    def bare() -> None:
        with torch.inference_mode():
            model.network(tensor)

    def handler(body: bytes):
        def run() -> None:
            inference.output_fn(inference.predict_fn(inference.input_fn(body, "image/jpeg"), model), "application/json")

        return run

    variants = {"bare forward": bare, **{f"handler ({name})": handler(body) for name, body in bodies.items()}}
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for round_index in range(warmup + rounds):
        random.shuffle(order)
        for name in order:
            start = time.perf_counter()
            variants[name]()
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                times[name].append(elapsed)

    sizes = ", ".join(
        f"{name} {len(body)} B ({'x'.join(map(str, Image.open(io.BytesIO(body)).size))})"
        for name, body in bodies.items()
    )
    print(
        f"\n{config}: {arch} at {image_size} px, {num_classes} classes, batch 1, {torch.get_num_threads()} torch "
        f"threads, {rounds} interleaved rounds; bodies: {sizes}"
    )
    bare_times = times["bare forward"]
    bare_p50 = statistics.median(bare_times)
    paired: dict[str, float] = {}
    print(f"{'':18} {'p50 ms':>8} {'p99 ms':>8} {'p50 x bare':>11} {'paired x bare':>14}")
    for name, values in times.items():
        p50 = statistics.median(values)
        # The median over rounds of (variant / bare forward of the same round): steadier when other
        # processes load the machine unevenly over the run.
        paired[name] = statistics.median(value / base for value, base in zip(values, bare_times, strict=True))
        print(
            f"{name:18} {p50 * 1e3:8.2f} {percentile(values, 0.99) * 1e3:8.2f} {p50 / bare_p50:11.3f} "
            f"{paired[name]:14.3f}"
        )

    print("handler stages (median ms):")
    for name, body in bodies.items():
        print(f"  {name:6} " + "  ".join(f"{stage} {ms:.3f}" for stage, ms in stage_medians(model, body)))
    return [
        f"target: {arch} {image_size} px, {name} <= {target}x bare forward -> {paired[name]:.3f}x "
        + ("OK" if paired[name] <= target else "OVER TARGET")
        for name, target in targets.items()
    ]


def stage_medians(model, body: bytes, rounds: int = 30) -> list[tuple[str, float]]:
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
