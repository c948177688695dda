"""A tuning job's ParameterRanges as the local tuner reads them from CreateHyperParameterTuningJob."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParameterRange:
    name: str
    kind: str  # Continuous, Integer, Categorical
    low: float = 0.0
    high: float = 0.0
    scale: str = "Auto"  # Auto, Linear, Logarithmic, ReverseLogarithmic
    values: tuple[Any, ...] = ()  # categorical: the values as sent


def ranges_from_request(parameter_ranges: dict[str, Any]) -> list[ParameterRange]:
    """The three kinds' lists of a request, as ranges (MinValue/MaxValue read as numbers)."""
    found = []
    for kind in ("Continuous", "Integer"):
        for item in parameter_ranges.get(f"{kind}ParameterRanges") or []:
            found.append(
                ParameterRange(
                    item["Name"],
                    kind,
                    float(item["MinValue"]),
                    float(item["MaxValue"]),
                    item.get("ScalingType") or "Auto",
                )
            )
    for item in parameter_ranges.get("CategoricalParameterRanges") or []:
        found.append(ParameterRange(item["Name"], "Categorical", values=tuple(item["Values"])))
    return found
