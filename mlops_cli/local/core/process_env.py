"""The environment of every process the local AWS runs: training jobs, model servers, Lambda functions and EC2
bootstraps.

It is built from an allow-list, never by deleting a few names from the server's own environment: none of the
caller's `AWS_*` variables (keys, session token, profile, config and credential files, endpoints), proxies or
anything else reach the code a request runs. What it gets instead is the local AWS itself (AWS_ENDPOINT_URL,
its own credentials, /dev/null as config and credential files, no instance metadata), so boto3 in that code
talks to the local AWS and nowhere else.

The endpoint variables a process is given (a model's or a function's `AWS_ENDPOINT_URL_S3`, say) follow the CLI's
https rule (mlops_cli.local.core.urls): a request that sets one to plain http off loopback is refused
(`check_endpoints`), and one kept from before that rule never reaches a process.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from mlops_cli.local.core.names import InvalidRequest
from mlops_cli.local.core.urls import endpoint_url_problem

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
# What botocore reads as an endpoint: AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>.
_ENDPOINT_VARIABLE = re.compile(r"^AWS_ENDPOINT_URL(_\w+)?$", re.IGNORECASE)


def endpoint_problems(variables: Mapping[str, str]) -> dict[str, str]:
    """The endpoint variables among `variables` that break the https rule, with what is wrong with each."""
    problems = {}
    for name, value in variables.items():
        if _ENDPOINT_VARIABLE.match(str(name)):
            problem = endpoint_url_problem(str(value))
            if problem:
                problems[str(name)] = problem
    return problems


def check_endpoints(variables: Mapping[str, str], member: str) -> None:
    """InvalidRequest naming the first endpoint variable of `member` (where the request set them) that breaks
    the https rule."""
    for name, problem in endpoint_problems(variables).items():
        raise InvalidRequest(f"Value at '{member}' failed: env {name}: {problem}")


def local_process_env(aws: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed part of this process's environment, then the process's own `variables`, then `aws` (the
    local AWS's endpoint and credentials, which nothing overrides)."""
    env = {
        name: value for name, value in os.environ.items() if name in INHERITED or name.startswith(INHERITED_PREFIXES)
    }
    unsafe = endpoint_problems(variables)
    env.update({name: value for name, value in variables.items() if name not in unsafe})
    env.update(aws)
    return env
