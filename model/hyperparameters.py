"""The hyperparameters, declared once: name, type, default, allowed values and help of each.

Everything else derives from `TrainConfig`'s fields: the entry points' ``--name value`` arguments
(model/arguments.py), the CLI's config schema (`train.hyperparameters` and `model` in mlops_cli/config/schema.py)
and the hyperparameters of a training request (mlops_cli/services/training.py). Standard library only: the CLI
imports this module and must not pay for torch.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2")
LR_SCHEDULES = ("cosine", "step", "none")
TRAIN_SECTION = "train.hyperparameters"  # where the CLI's config keeps a hyperparameter
MODEL_SECTION = "model"


class ConfigError(ValueError):
    """A hyperparameter or path is invalid (exit code 2 at the entry points)."""


@dataclass(frozen=True)
class Rule:
    """What one hyperparameter accepts, and where the CLI's config keeps it (None: entry-point flag only)."""

    help: str
    section: str | None = TRAIN_SECTION
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # inclusive
    positive: bool = False  # strictly above zero
    choices: tuple[str, ...] = ()

    def problem(self, name: str, value: Any) -> str | None:
        """Why `value` is not allowed for `name`, or None."""
        if self.choices:
            return None if value in self.choices else f"{name} must be one of {', '.join(self.choices)}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if self.positive and not (value > 0 and math.isfinite(value)):
            return f"{name} must be a positive number"
        if self.minimum is not None and value < self.minimum:
            return f"{name} must be at least {self.minimum:g}" if self.minimum else f"{name} must not be negative"
        if self.maximum is not None and value > self.maximum:
            return f"{name} must be at most {self.maximum:g}"
        return None


def _declare(default: Any, help: str, **rule: Any) -> Any:
    return field(default=default, metadata={"rule": Rule(help, **rule)})


@dataclass(frozen=True)
class TrainConfig:
    """The hyperparameters every entry point takes; names match the SageMaker hyperparameters."""

    epochs: int = _declare(5, "passes over the training set", minimum=1, maximum=10_000)
    batch_size: int = _declare(32, "images per step on each process", minimum=1, maximum=65_536)
    lr: float = _declare(0.001, "learning rate (AdamW)", positive=True, maximum=10)
    weight_decay: float = _declare(0.0, "AdamW weight decay", minimum=0)
    lr_schedule: str = _declare("cosine", "learning-rate schedule over the epochs", choices=LR_SCHEDULES)
    early_stopping_patience: int = _declare(0, "epochs without a better valid loss before stopping; 0 = off", minimum=0)
    seed: int = _declare(0, "random seed (numpy's range)", minimum=0, maximum=2**32 - 1)
    hflip: bool = _declare(
        False, "mirror training images: true for photos, false where mirroring changes the class (digits, text)"
    )
    arch: str = _declare("resnet50", "torchvision backbone", section=MODEL_SECTION, choices=ARCHS)
    pretrained: bool = _declare(True, "start from ImageNet weights", section=MODEL_SECTION)
    pretrained_fallback: bool = _declare(
        False, "train from random init when weights cannot be fetched", section=MODEL_SECTION
    )
    freeze_backbone: bool = _declare(True, "train only the classifier head", section=MODEL_SECTION)
    hidden_units: int = _declare(
        128, "hidden layer of the classifier head; 0 = none", section=MODEL_SECTION, minimum=0, maximum=8192
    )
    image_size: int = _declare(224, "input side in pixels", section=MODEL_SECTION, minimum=16, maximum=1024)
    workers: int = _declare(
        -1, "DataLoader worker processes; -1 = automatic (0 on CPU, several per GPU)", section=None, minimum=-1
    )

    def __post_init__(self) -> None:
        problems = [
            problem
            for spec in fields(self)
            if (problem := rule_of(spec).problem(spec.name, getattr(self, spec.name))) is not None
        ]
        if problems:
            raise ConfigError("; ".join(problems))


def rule_of(spec: Field[Any]) -> Rule:
    return spec.metadata["rule"]


def declared(section: str | None = None) -> list[Field[Any]]:
    """The hyperparameters' fields (their `type` is the annotation's text), all or those the config keeps in
    `section`, in declaration order."""
    return [spec for spec in fields(TrainConfig) if section is None or rule_of(spec).section == section]


def default_of(spec: Field[Any]) -> Any:
    assert spec.default is not MISSING
    return spec.default


KINDS: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


def kind_of(spec: Field[Any]) -> type:
    """The field's type (annotations are text under `from __future__ import annotations`)."""
    return KINDS[str(spec.type)]


def sections() -> dict[str, str]:
    """Hyperparameter name -> the config section that keeps it, for those the config keeps."""
    return {spec.name: section for spec in declared() if (section := rule_of(spec).section) is not None}
