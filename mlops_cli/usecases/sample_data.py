"""`mlops data sample`: the offline sample set (scikit-learn digits) written as a train/valid/test ImageFolder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config


def write_sample(config: Config, dest: Path | None) -> dict[str, Any]:
    """Write the digits under `dest` (default: data.local_dir); where they went and how many images per split."""
    from mlops_cli.services.sample_data import write_digits_imagefolder

    target = dest or Path(config.data.local_dir)
    counts = write_digits_imagefolder(target)
    return {"path": str(target), "classes": 10, **counts}
