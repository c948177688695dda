"""The local AWS's time scale: `MLOPS_LOCAL_TIME_SCALE` (set by `mlops local up` from the config's
`local.time_scale`) makes a local minute last 60 / scale real seconds, for every service that waits on AWS time
(autoscaling's periods and cooldowns, CloudWatch alarms, serverless endpoints' idle time)."""

from __future__ import annotations

import math
import os

TIME_SCALE_ENV = "MLOPS_LOCAL_TIME_SCALE"
MAX_TIME_SCALE = 3600.0


def time_scale() -> float:
    """How much faster local time runs (1 = real time); bad values fall back to 1."""
    try:
        scale = float(os.environ.get(TIME_SCALE_ENV) or 1)
    except ValueError:
        return 1.0
    return min(max(scale, 1.0), MAX_TIME_SCALE) if math.isfinite(scale) else 1.0
