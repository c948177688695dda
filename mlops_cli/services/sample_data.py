"""The offline sample data set: scikit-learn's digits written as an ImageFolder tree.

It has the dog-breed set's shape (``train/ valid/ test/`` with ``NNN.name`` class folders) so every
command can be exercised end to end without downloading anything.
"""

from __future__ import annotations

from pathlib import Path

from mlops_cli.services.owned_folder import check_owned, claim

DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLITS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))
IMAGE_SIZE = 32  # digits are 8x8; upscaled so the PNGs are viewable and survive JPEG-like resampling
MARKER = ".mlops-sample"  # written into every folder this writes: the only folders it will write over
COMMAND = "mlops data sample"


def class_folder(index: int) -> str:
    return f"{index + 1:03d}.{DIGIT_NAMES[index]}"


def check_destination(dest: Path) -> None:
    """A new or empty folder, or this command's own earlier output; anything else is refused (exit 2)."""
    check_owned(dest, MARKER, COMMAND, {split for split, _ in SPLITS})


def write_digits_imagefolder(dest: Path, seed: int = 0) -> dict[str, int]:
    """Write the 1,797 digits as PNGs under ``dest/{train,valid,test}/NNN.name/``.

    Deterministic: the same seed gives byte-identical files. Returns images per split.
    `dest` must be new, empty, or this function's earlier output (recognised by its marker file); nothing
    else is ever deleted or overwritten. The images are written into a temporary sibling folder and moved in
    split by split, so an interrupted run leaves no half-written split.
    """
    check_destination(Path(dest))  # first, before the slow imports; messages name the folder as typed
    import shutil
    import tempfile

    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    dest = Path(dest).absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))
    counts: dict[str, int] = {}
    # Both scratch folders are made here, with unique names, so removing them touches only our own files.
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    replaced = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    try:
        start = 0
        for split_index, (split, fraction) in enumerate(SPLITS):
            end = len(order) if split_index == len(SPLITS) - 1 else start + round(fraction * len(order))
            for position in order[start:end]:
                label = int(digits.target[position])
                pixels = (digits.images[position] * (255.0 / 16.0)).clip(0, 255).astype("uint8")
                image = Image.fromarray(pixels).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.NEAREST)
                folder = staging / split / class_folder(label)
                folder.mkdir(parents=True, exist_ok=True)
                image.save(folder / f"digit_{position:04d}.png", optimize=False)
            counts[split] = end - start
            start = end
        claim(dest, MARKER, COMMAND)
        for split, _ in SPLITS:
            if (dest / split).exists():  # only when the marker says the folder is ours (checked above)
                (dest / split).rename(replaced / split)
            (staging / split).rename(dest / split)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(replaced, ignore_errors=True)
    return counts
