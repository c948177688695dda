"""Hyperparameter ranges and the objective of a tuning job: parsed from `tune:` config or flags, checked against the
hyperparameter schema (type, bounds, log scale only above zero) and turned into SageMaker's ParameterRanges.

A range is written `LOW:HIGH[:SCALE]` (continuous for float hyperparameters, integer for int ones) or `a,b,c`
(categorical, any type). SCALE is SageMaker's ScalingType: `log`, `linear`, `reverselog` (continuous ranges within
0 <= x < 1: values near 1 searched finely, e.g. a decay factor 0.9..0.999) or `auto` (SageMaker chooses; the
default). Categorical values travel JSON-encoded, like every other hyperparameter value, so the container decodes
`32` as a number and `"cosine"` as a string.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlops_cli.common.parameter_ranges import ParameterRange

SCALES = {"log": "Logarithmic", "linear": "Linear", "reverselog": "ReverseLogarithmic", "auto": "Auto"}
RANGE_SYNTAX = "LOW:HIGH[:log|:linear|:reverselog|:auto]"
OBJECTIVE_TYPES = {"min": "Minimize", "max": "Maximize"}
MAX_RANGES_PER_KIND = 30  # SageMaker's ParameterRanges limit for each kind
MAX_CATEGORIES = 30


class RangeError(ValueError):
    """A range or objective that cannot be tuned; the message says why (the caller names the flag or key)."""


def _schema(name: str) -> tuple[Any, str]:
    """The pydantic section model and field of a tunable hyperparameter."""
    from mlops_cli.config.sections import Hyperparameters, ModelConfig
    from model.hyperparameters import sections

    known = sections()
    if name not in known:
        import difflib

        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise RangeError(f"unknown hyperparameter '{name}'{hint}; known: {', '.join(sorted(known))}")
    model = Hyperparameters if known[name] == "train.hyperparameters" else ModelConfig
    return model, name


def _validated(name: str, value: Any) -> Any:
    """`value` as the schema accepts it for `name`, or RangeError with the schema's reason."""
    from pydantic import ValidationError

    model, field = _schema(name)
    try:
        return getattr(model.model_validate({field: value}), field)
    except ValidationError as exc:
        raise RangeError(f"{name}={value!r}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def _scalar(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else text
    except yaml.YAMLError:
        return text


def parse_range(name: str, spec: Any) -> ParameterRange:
    """`name` with `spec` ("LOW:HIGH[:SCALE]", "a,b,c" or a list) -> a checked ParameterRange."""
    name = name.strip().replace("-", "_")
    model, field = _schema(name)
    annotation = model.model_fields[field].annotation
    if isinstance(spec, (list, tuple)):
        items = list(spec)
    elif isinstance(spec, str) and ":" not in spec:
        items = [_scalar(item) for item in spec.split(",")]
    elif isinstance(spec, str):
        items = None
    else:
        raise RangeError(f"{name}: expected {RANGE_SYNTAX} or a,b,c, got {spec!r}")
    if items is not None:
        if not items or any(item == "" for item in items):
            raise RangeError(f"{name}: empty value in '{spec}'")
        values = tuple(dict.fromkeys(_validated(name, item) for item in items))  # in order, without repeats
        if len(values) > MAX_CATEGORIES:
            raise RangeError(f"{name}: at most {MAX_CATEGORIES} categorical values (SageMaker's limit)")
        return ParameterRange(name, "Categorical", values=values)

    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise RangeError(f"{name}: expected {RANGE_SYNTAX}, got '{spec}'")
    if annotation not in (int, float):
        raise RangeError(
            f"{name}: a {getattr(annotation, '__name__', 'non-numeric')} hyperparameter takes "
            "categorical values (a,b,c), not LOW:HIGH"
        )
    scale = "Auto"
    if len(parts) == 3:
        if parts[2].strip() not in SCALES:
            raise RangeError(f"{name}: scale '{parts[2]}' is not one of {', '.join(SCALES)}")
        scale = SCALES[parts[2].strip()]
    bounds = []
    for part in parts[:2]:
        try:
            number = annotation(part.strip()) if annotation is int else float(part)
        except ValueError:
            raise RangeError(f"{name}: '{part}' is not {'an integer' if annotation is int else 'a number'}") from None
        if not math.isfinite(number):
            raise RangeError(f"{name}: bounds must be finite, got '{part}'")
        bounds.append(_validated(name, number))
    low, high = bounds
    if not low < high:
        raise RangeError(f"{name}: LOW ({low}) must be less than HIGH ({high})")
    if scale == "Logarithmic" and low <= 0:
        raise RangeError(f"{name}: log scale needs LOW > 0 (got {low})")
    if scale == "ReverseLogarithmic":
        if annotation is int:
            raise RangeError(f"{name}: reverselog scale is for continuous ranges only (SageMaker's rule)")
        if not 0 <= low < high < 1:
            raise RangeError(f"{name}: reverselog scale needs 0 <= LOW < HIGH < 1 (got {low}:{high})")
    return ParameterRange(name, "Integer" if annotation is int else "Continuous", low, high, scale)


def parse_range_flag(item: str) -> ParameterRange:
    """One `--range NAME=SPEC` item."""
    name, sep, spec = item.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise RangeError(f"expected NAME={RANGE_SYNTAX} or NAME=a,b,c")
    return parse_range(name, spec.strip())


def parameter_ranges(ranges: list[ParameterRange]) -> dict[str, list[dict[str, Any]]]:
    """SageMaker's ParameterRanges: the three kinds' lists (empty ones left out)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for item in ranges:
        grouped.setdefault(f"{item.kind}ParameterRanges", []).append(item.to_aws())
    for key, items in grouped.items():
        if len(items) > MAX_RANGES_PER_KIND:
            raise RangeError(f"at most {MAX_RANGES_PER_KIND} {key} (SageMaker's limit)")
    return grouped


@dataclass(frozen=True)
class Objective:
    metric: str
    type: str  # Minimize, Maximize

    def to_aws(self) -> dict[str, str]:
        return {"Type": self.type, "MetricName": self.metric}

    @property
    def spec(self) -> str:
        return f"{self.metric}:{'min' if self.type == 'Minimize' else 'max'}"


# Which way is better for a metric, by its kind: a loss falls, an accuracy rises.
BETTER = {"_loss": "Minimize", "_acc": "Maximize"}


def backwards(objective: Objective) -> str | None:
    """A warning when the objective optimises a metric the wrong way (minimising an accuracy, maximising a loss):
    allowed, as someone may want the worst trial, but almost always a slip that searches for bad models."""
    for suffix, better in BETTER.items():
        if objective.metric.endswith(suffix) and objective.type != better:
            right = Objective(objective.metric, better).spec
            what = "an accuracy" if suffix == "_acc" else "a loss"
            verb = "minimises" if objective.type == "Minimize" else "maximises"
            return (
                f"objective {objective.spec} {verb} {what}: the search will look for the worst models (meant {right}?)"
            )
    return None


def objective_metrics() -> list[str]:
    """The metrics a tuning job may optimise: the training and validation ones the engine prints. Never the test
    split's: choosing hyperparameters by it leaks the test set into the model, and its score is no longer a test."""
    from model.metrics import METRIC_NAMES

    return [name for name in METRIC_NAMES if name.startswith(("train_", "valid_"))]


def parse_objective(spec: str) -> Objective:
    """`valid_loss:min` -> Objective; the metric must be a training or validation metric the engine prints."""
    from model.metrics import METRIC_NAMES

    metric, sep, direction = str(spec).partition(":")
    if not sep or direction.strip() not in OBJECTIVE_TYPES:
        raise RangeError(f"expected NAME:min or NAME:max, got '{spec}'")
    metric = metric.strip()
    choices = objective_metrics()
    if metric.startswith("test_") and metric in METRIC_NAMES:
        raise RangeError(
            f"'{metric}' is measured on the test split: tuning on it fits the hyperparameters to the test set; "
            f"use a validation metric ({', '.join(name for name in choices if name.startswith('valid_'))})"
        )
    if metric not in choices:
        raise RangeError(f"unknown metric '{metric}'; tune on one of {', '.join(choices)}")
    return Objective(metric, OBJECTIVE_TYPES[direction.strip()])
