"""What SageMaker's side of a training job does with a request, as the emulator's own code (never the client's,
so that a bug shared by both sides cannot pass unnoticed): where the job's logs go, how the PyTorch container
decodes hyperparameters, and how MetricDefinitions pick metric values out of log lines."""

from __future__ import annotations

import json
import re
from typing import Any

LOG_GROUP = "/aws/sagemaker/TrainingJobs"  # streams `<job>/algo-<n>-<epoch seconds>`


def decode_hyperparameters(encoded: dict[str, str]) -> dict[str, Any]:
    """The training container's decoding: each value JSON-decoded, the raw string kept where that fails."""
    decoded: dict[str, Any] = {}
    for key, value in encoded.items():
        try:
            decoded[key] = json.loads(value)
        except (TypeError, ValueError):
            decoded[key] = value
    return decoded


def metric_values(line: str, definitions: list[dict[str, str]]) -> dict[str, float]:
    """The metrics a log line carries: each definition's Regex, its first group read as a number."""
    values: dict[str, float] = {}
    for definition in definitions:
        found = re.search(definition["Regex"], line)
        if found:
            try:
                values[definition["Name"]] = float(found.group(1))
            except (IndexError, ValueError):
                continue
    return values
