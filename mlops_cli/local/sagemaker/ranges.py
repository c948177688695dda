"""What SageMaker does with a tuning job's ParameterRanges (the shape itself is neutral: mlops_cli.common): the
rules it checks them by, and the scale each numeric range is searched on.

AWS documents the scales (ScalingType): Linear; Logarithmic (values > 0 only); ReverseLogarithmic (continuous
ranges within 0 <= x < 1 only: the distance to 1 is searched on a log scale, so 0.9, 0.99 and 0.999 are as far
apart as 0.1, 0.01 and 0.001 on a log scale); Auto ("SageMaker chooses the best scale"). How AWS chooses for Auto
is not documented: the local AWS searches an Auto range on a log scale when it lies above 0 and spans at least
two orders of magnitude (HIGH >= 100 x LOW, e.g. a learning rate 1e-4..1e-1), linearly otherwise.
"""

from __future__ import annotations

from mlops_cli.common.parameter_ranges import ParameterRange

AUTO_LOG_SPAN = 100.0  # HIGH / LOW from which an Auto range is searched on a log scale


def search_scale(item: ParameterRange) -> str:
    """The scale the range is searched on: Linear, Logarithmic or ReverseLogarithmic (Auto resolved)."""
    if item.scale != "Auto":
        return item.scale
    return "Logarithmic" if item.low > 0 and item.high >= AUTO_LOG_SPAN * item.low else "Linear"


def range_problem(item: ParameterRange) -> str | None:
    """SageMaker's rules for one range (bounds and scale), or None."""
    if item.kind == "Categorical":
        return None
    if item.kind == "Integer" and not (item.low.is_integer() and item.high.is_integer()):
        return f"MinValue and MaxValue must be integers for {item.name}"
    if not item.low < item.high:
        return f"MinValue must be less than MaxValue for {item.name}"
    if item.scale == "Logarithmic" and item.low <= 0:
        return f"Logarithmic scaling requires values greater than 0 for {item.name}"
    if item.scale == "ReverseLogarithmic":
        if item.kind == "Integer":
            return f"ReverseLogarithmic scaling is not supported for integer parameter ranges ({item.name})"
        if not 0 <= item.low < item.high < 1:
            return f"ReverseLogarithmic scaling requires values in the range 0 <= x < 1.0 for {item.name}"
    return None
