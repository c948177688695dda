"""The offline sample data set: scikit-learn's digits written as an ImageFolder tree.

It has the dog-breed set's shape (``train/ valid/ test/`` with ``NNN.name`` class folders) so every
command can be exercised end to end without downloading anything.
"""

from __future__ import annotations

from pathlib import Path

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLITS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))
IMAGE_SIZE = 32  # digits are 8x8; upscaled so the PNGs are viewable and survive JPEG-like resampling


def class_folder(index: int) -> str:
    return f"{index + 1:03d}.{DIGIT_NAMES[index]}"


def write_digits_imagefolder(dest: Path, seed: int = 0) -> dict[str, int]:
    """Write the 1,797 digits as PNGs under ``dest/{train,valid,test}/NNN.name/``.

    Deterministic: the same seed gives byte-identical files. Returns images per split.
    Written into a temporary sibling folder and renamed, so an interrupted run leaves nothing half-written.
    """
    import shutil

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))
    counts: dict[str, int] = {}
    dest = Path(dest)
    staging = dest.with_name(dest.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    start = 0
    for split_index, (split, fraction) in enumerate(SPLITS):
        end = len(order) if split_index == len(SPLITS) - 1 else start + round(fraction * len(order))
        for position in order[start:end]:
            label = int(digits.target[position])
            pixels = (digits.images[position] * (255.0 / 16.0)).clip(0, 255).astype("uint8")
            image = Image.fromarray(pixels).resize((IMAGE_SIZE, IMAGE_SIZE), Image.NEAREST)
            folder = staging / split / class_folder(label)
            folder.mkdir(parents=True, exist_ok=True)
            image.save(folder / f"digit_{position:04d}.png", optimize=False)
        counts[split] = end - start
        start = end
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)
    return counts
