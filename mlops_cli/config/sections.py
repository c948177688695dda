"""`Section`, the strict base of every config section, and the two sections model/hyperparameters.py declares
(`model`, `train.hyperparameters`): apart from the whole schema (schema.py) so that tuning ranges, which schema.py
checks, can validate values against them without importing schema.py back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from model import hyperparameters
from model.hyperparameters import ARCHS, LR_SCHEDULES

__all__ = ["Hyperparameters", "ModelConfig", "Section"]


class Section(BaseModel):
    # strict: YAML `true` is not the integer 1, "5" is not a number; no .inf/.nan where a number is expected.
    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, populate_by_name=True, strict=True, allow_inf_nan=False
    )


def _declared(name: str) -> Any:
    """The field of hyperparameter `name` as model/hyperparameters.py declares it (default, bounds, help): the
    schema names each one with its type, for type checkers; a test holds names and types to the declaration."""
    rule = hyperparameters.rule_of(_DECLARED[name])
    return Field(
        hyperparameters.default_of(_DECLARED[name]),
        ge=rule.minimum,
        le=rule.maximum,
        gt=0 if rule.positive else None,
        description=rule.help,
    )


_DECLARED = {spec.name: spec for spec in hyperparameters.declared()}


class ModelConfig(Section):
    arch: Literal[ARCHS] = _declared("arch")  # type: ignore[valid-type]
    pretrained: bool = _declared("pretrained")
    pretrained_fallback: bool = _declared("pretrained_fallback")
    freeze_backbone: bool = _declared("freeze_backbone")
    hidden_units: int = _declared("hidden_units")
    num_classes: int = Field(133, ge=2, le=100_000)
    image_size: int = _declared("image_size")


class Hyperparameters(Section):
    epochs: int = _declared("epochs")
    batch_size: int = _declared("batch_size")
    lr: float = _declared("lr")
    weight_decay: float = _declared("weight_decay")
    lr_schedule: Literal[LR_SCHEDULES] = _declared("lr_schedule")  # type: ignore[valid-type]
    early_stopping_patience: int = _declared("early_stopping_patience")
    seed: int = _declared("seed")
    hflip: bool = _declared("hflip")
