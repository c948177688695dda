"""Training metric lines: ``name=value`` pairs on one line, readable by SageMaker metric regexes.

Imports nothing heavy: the CLI imports this module to build a training job's ``MetricDefinitions``.
No metric name is a suffix of another, so ``name=`` never matches inside a longer name.
"""

from __future__ import annotations

METRIC_NAMES = (
    "epoch",
    "train_loss",
    "train_acc",
    "valid_loss",
    "valid_acc",
    "test_loss",
    "test_acc",
    "lr",
    "images_per_s",
)
_VALUE = r"([-+]?(?:[0-9]+\.?[0-9]*(?:[eE][-+]?[0-9]+)?|nan|inf))"


def metric_regex(name: str) -> str:
    """A regex whose first group captures the value of ``name`` on a metric line."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; expected one of {', '.join(METRIC_NAMES)}")
    return f"{name}={_VALUE}"


def metric_definitions() -> list[dict[str, str]]:
    """SageMaker ``AlgorithmSpecification.MetricDefinitions`` for every metric the engine prints."""
    return [{"Name": name, "Regex": metric_regex(name)} for name in METRIC_NAMES]


def format_metrics(values: dict[str, float | int]) -> str:
    """``epoch=2 train_loss=0.4123 ...``: ints as is, floats with 4 significant decimals (6 for the lr)."""
    parts = []
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"metric {name} must be a number, got {value!r}")
        if isinstance(value, int):
            parts.append(f"{name}={value}")
        elif name == "lr":
            parts.append(f"{name}={value:.6g}")
        else:
            parts.append(f"{name}={value:.4f}")
    return " ".join(parts)
