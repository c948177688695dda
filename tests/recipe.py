"""The recipe of every real training in the tests: configs/local.yaml's model and hyperparameters.

resnet18 from random init at 32 px (the sample's own size), two epochs at batch 32 with a cosine schedule:
94-98 % test accuracy on the digits sample over seeds 0-3, about 15 s of compute on 2 shared cores. The session
trains it once on the digits sample (tests/conftest.py `trained_job`), and that one training carries the accuracy
claims; tests of a mechanism (entry points, DDP, spot, kill/resume, train-ec2, tune) run it for an epoch or a few
on a small slice of the sample (SMALL_DIGITS_PER_CLASS), where accuracy means nothing.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.helpers import LOCAL_CONFIG

# Images per class of each split of the small slice: 160 to train on, 80 to validate, 40 to test.
SMALL_DIGITS_PER_CLASS = {"train": 16, "valid": 8, "test": 4}
# The 2-instance jobs' epochs on the small slice (a fraction of a second each): enough that the suite's spot
# interruption (once a checkpoint has reached S3, two 0.2 s polls after it is written) comes well before the end.
DDP_EPOCHS = 8

_LOCAL = yaml.safe_load(LOCAL_CONFIG.read_text())
HYPERPARAMETERS: dict[str, Any] = {
    **{name: _LOCAL["model"][name] for name in ("arch", "pretrained", "freeze_backbone", "hidden_units", "image_size")},
    **_LOCAL["train"]["hyperparameters"],
}


def train_config(**overrides: Any):
    """The recipe as the engine's TrainConfig."""
    from model.hyperparameters import TrainConfig

    return TrainConfig(**{**HYPERPARAMETERS, **overrides})


def argv(**overrides: Any) -> list[str]:
    """The recipe as an entry point's command-line arguments."""
    values = {**HYPERPARAMETERS, **overrides}
    return [
        part
        for name, value in values.items()
        for part in (f"--{name.replace('_', '-')}", str(value).lower() if isinstance(value, bool) else str(value))
    ]
