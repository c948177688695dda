"""A tuning job's hyperparameter ranges in SageMaker's ParameterRanges shape: the client writes them
(mlops_cli.config.tuning_ranges parses them from `tune:` config and flags), the local tuner reads them back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

KINDS = ("Continuous", "Integer", "Categorical")


@dataclass(frozen=True)
class ParameterRange:
    name: str
    kind: str  # Continuous, Integer, Categorical
    low: float = 0.0
    high: float = 0.0
    scale: str = "Auto"  # Auto, Linear, Logarithmic, ReverseLogarithmic
    # Categorical: the client's validated values (sent JSON-encoded, like every hyperparameter value); read back
    # from a request, the strings as sent.
    values: tuple[Any, ...] = ()

    def to_aws(self) -> dict[str, Any]:
        """One item of `<kind>ParameterRanges`."""
        if self.kind == "Categorical":
            return {"Name": self.name, "Values": [json.dumps(value) for value in self.values]}
        text = (lambda v: str(int(v))) if self.kind == "Integer" else (lambda v: repr(float(v)))
        return {"Name": self.name, "MinValue": text(self.low), "MaxValue": text(self.high), "ScalingType": self.scale}


def from_aws(parameter_ranges: dict[str, Any]) -> list[ParameterRange]:
    """A request's ParameterRanges (the three kinds' lists) as ranges, MinValue/MaxValue read as numbers."""
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
