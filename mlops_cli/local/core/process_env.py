"""The environment of every process the local AWS runs: training jobs, model servers, Lambda functions and EC2
bootstraps.

It is built from an allow-list, never by deleting a few names from the server's own environment: none of the
caller's `AWS_*` variables (keys, session token, profile, config and credential files, endpoints), proxies or
anything else reach the code a request runs. What it gets instead is the local AWS itself (AWS_ENDPOINT_URL,
its own credentials, /dev/null as config and credential files, no instance metadata), so boto3 in that code
talks to the local AWS and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

# What a process needs from the machine it runs on: the locale, where programs, Python packages, temporary
# files and caches are, and the thread and device limits the user set.
INHERITED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "PYTHONPATH",
        "TORCH_HOME",
        "XDG_CACHE_HOME",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "CUDA_VISIBLE_DEVICES",
        "LOGLEVEL",
    }
)
INHERITED_PREFIXES = ("LC_",)


def local_process_env(aws: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed part of this process's environment, then the process's own `variables`, then `aws` (the
    local AWS's endpoint and credentials, which nothing overrides)."""
    env = {
        name: value for name, value in os.environ.items() if name in INHERITED or name.startswith(INHERITED_PREFIXES)
    }
    env.update(variables)
    env.update(aws)
    return env
