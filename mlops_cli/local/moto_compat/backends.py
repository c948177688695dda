"""moto's backends (a service's in-process state, moto's `BackendDict`s) reached by service, account and region.
The raw getters here are for this package's record modules only (tests/foundation/test_local_layout.py checks
that no other module calls them): the rest of the local AWS reads and changes moto's records through the typed
views of `records/`.

- `backend`/`backends`/`has_account`: a service's backend (looking one up creates it), every existing one, and
  whether an account has state yet.
- `locate`/`set_attributes`/`delete`: a moto object (or collection) from a path such as
  ("sagemaker", account, region, "endpoints", name), changed or removed: the journal's `moto.set`/`moto.delete`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

# Service name as the local AWS calls it -> (module, BackendDict attribute)
BACKENDS = {
    "s3": ("moto.s3.models", "s3_backends"),
    "cloudwatch": ("moto.cloudwatch.models", "cloudwatch_backends"),
    "sagemaker": ("moto.sagemaker.models", "sagemaker_backends"),
    "application-autoscaling": ("moto.applicationautoscaling.models", "applicationautoscaling_backends"),
    "ec2": ("moto.ec2.models", "ec2_backends"),
    "iam": ("moto.iam.models", "iam_backends"),
    "sts": ("moto.sts.models", "sts_backends"),
}


def backends(service: str) -> Iterator[tuple[str, str, Any]]:
    """(account, region, backend) for every backend of the service that exists."""
    module_name, attribute = BACKENDS[service]
    yield from list(getattr(importlib.import_module(module_name), attribute).iter_backends())


def has_account(service: str, account: str) -> bool:
    """Whether the service has state for the account yet (looking it up would create it)."""
    module_name, attribute = BACKENDS[service]
    return account in getattr(importlib.import_module(module_name), attribute)


def backend(service: str, account: str, region: str) -> Any:
    module_name, attribute = BACKENDS[service]
    return getattr(importlib.import_module(module_name), attribute)[account][region]


def locate(path: tuple[Any, ...]) -> tuple[Any, Any]:
    """(container, key) for a path (service, account, region, attribute, key...): the last key in its container."""
    service, account, region, attribute, *keys = path
    container: Any = getattr(backend(service, account, region), attribute)
    for key in keys[:-1]:
        container = container[key]
    return container, keys[-1]


def set_attributes(path: tuple[Any, ...], attributes: dict[str, Any]) -> None:
    container, key = locate(path)
    target = container[key]
    for name, value in attributes.items():
        setattr(target, name, value)


def delete(path: tuple[Any, ...]) -> None:
    container, key = locate(path)
    container.pop(key, None)
