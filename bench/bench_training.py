"""Training throughput, side by side in one run (same model, batch size, image size and thread count):

  engine     model.engine.run_training on the digits image folder (decode, augment, train, as shipped)
  synthetic  the same model on in-memory random tensors: no data pipeline at all, the compute limit here
  course     the loop the course project wrote: torchvision ImageFolder + DataLoader defaults, a per-batch
             .item() for the running loss and accuracy, no thread tuning, and a loss summed over batches then
             floor-divided by the sample count

Each method runs ROUNDS times, interleaved, so load from other processes hits all three alike; the median
images/s per method is reported. Target: engine >= 0.9x synthetic.

    .venv/bin/python bench/bench_training.py [--rounds 3] [--image-size 64] [--batch-size 16] [--arch resnet18]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torchvision import datasets, transforms  # noqa: E402

from mlops_cli.services.sample_data import write_digits_imagefolder  # noqa: E402
from model import data, engine, network  # noqa: E402
from model.hyperparameters import TrainConfig  # noqa: E402


def engine_rate(config: TrainConfig, data_dir: Path, epochs: int) -> float:
    """images/s of the engine's training epochs (the engine times each epoch's train pass, data included)."""
    document = engine.run_training(engine.dataclasses.replace(config, epochs=epochs), data_dir, log=lambda line: None)
    return statistics.median(row["images_per_s"] for row in document["epochs"])


def synthetic_rate(config: TrainConfig, samples: int, classes: int) -> float:
    model = network.build_model(config.arch, classes, False, config.freeze_backbone, config.hidden_units)
    network.set_train_mode(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    criterion = nn.CrossEntropyLoss()
    batches = [
        (
            torch.randn(min(config.batch_size, samples - start), 3, config.image_size, config.image_size),
            torch.randint(0, classes, (min(config.batch_size, samples - start),)),
        )
        for start in range(0, samples, config.batch_size)
    ]
    started = time.perf_counter()
    for images, labels in batches:
        loss = criterion(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return samples / (time.perf_counter() - started)


def course_rate(config: TrainConfig, data_dir: Path, classes: int) -> tuple[float, float, float]:
    """(images/s, reported train loss, true mean train loss) of a course-project style epoch."""
    # Per-image float conversion and normalisation, as the course project's transforms did.
    transform = transforms.Compose(
        [
            transforms.RandomResizedCrop(config.image_size, scale=(0.8, 1.0), ratio=(0.9, 1.1)),
            transforms.ToTensor(),
            transforms.Normalize(data.IMAGENET_MEAN, data.IMAGENET_STD),
        ]
    )
    dataset = datasets.ImageFolder(data_dir / "train", transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True)
    model = network.build_model(config.arch, classes, False, config.freeze_backbone, config.hidden_units)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr)
    criterion = nn.CrossEntropyLoss()
    running_loss, weighted_loss, running_corrects = 0.0, 0.0, 0
    started = time.perf_counter()
    for inputs, labels in loader:
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        running_loss += loss.item()  # a batch mean, summed as if it were a per-sample value
        weighted_loss += loss.item() * inputs.size(0)
        running_corrects += torch.sum(outputs.argmax(1) == labels.data).item()
    seconds = time.perf_counter() - started
    return len(dataset) / seconds, running_loss // len(dataset), weighted_loss / len(dataset)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2, help="engine epochs per round (epoch 1 fills the cache)")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    config = TrainConfig(
        arch=args.arch,
        pretrained=False,
        freeze_backbone=False,
        image_size=args.image_size,
        batch_size=args.batch_size,
        lr_schedule="none",
        epochs=args.epochs,
    )
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "digits"
        counts = write_digits_imagefolder(data_dir)
        classes = len(data.find_classes(data_dir / "train"))
        rates: dict[str, list[float]] = {"engine": [], "synthetic": [], "course": []}
        course_losses = []
        for round_index in range(args.rounds):
            rates["engine"].append(engine_rate(config, data_dir, args.epochs))
            rates["synthetic"].append(synthetic_rate(config, counts["train"], classes))
            rate, reported, true_mean = course_rate(config, data_dir, classes)
            rates["course"].append(rate)
            course_losses.append((reported, true_mean))
            print(
                f"round {round_index + 1}: " + "  ".join(f"{name}={values[-1]:.1f}" for name, values in rates.items()),
                flush=True,
            )

    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"\n{args.arch} {args.image_size}px batch {args.batch_size}, {counts['train']} training images, "
        f"{torch.get_num_threads()} threads, {args.rounds} rounds (median images/s)"
    )
    print(f"{'method':<10} {'images/s':>9} {'vs synthetic':>13} {'vs course':>10}")
    for name in ("engine", "synthetic", "course"):
        print(
            f"{name:<10} {median[name]:>9.1f} {median[name] / median['synthetic']:>12.2f}x "
            f"{median[name] / median['course']:>9.2f}x"
        )
    reported, true_mean = course_losses[-1]
    print(
        f"\ncourse loop's reported train loss (summed batch means // samples): {reported:.4f}; "
        f"true per-sample mean: {true_mean:.4f}"
    )
    target = median["engine"] / median["synthetic"]
    print(f"target engine >= 0.90x synthetic: {'met' if target >= 0.9 else 'NOT met'} ({target:.2f}x)")


if __name__ == "__main__":
    main()
