"""What SageMaker's side of a training job does with a request, as the emulator's own code (never the client's,
so that a bug shared by both sides cannot pass unnoticed): where the job's logs go and how the PyTorch container
decodes hyperparameters. Reading metric values out of log lines is neutral (mlops_cli.common.job_logs)."""

from __future__ import annotations

import json
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
