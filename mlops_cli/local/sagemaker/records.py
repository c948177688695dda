"""moto's SageMaker records as the local AWS reads and changes them: the backend of an account and region, moto's
clock, and a change to one record, made through the local AWS's journal so that it survives a restart."""

from __future__ import annotations

from typing import Any

from mlops_cli.local.core.server import ServerContext


def sagemaker_backend(account: str, region: str) -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.backend("sagemaker", account, region)


def utcnow() -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.utcnow()


def save_record(
    context: ServerContext, account: str, region: str, collection: str, name: str, attributes: dict[str, Any]
) -> None:
    """Change moto's record `name` in `collection` (training_jobs, hyper_parameter_tuning_jobs, endpoints)."""
    context.store.call("moto.set", {"path": ("sagemaker", account, region, collection, name), "attributes": attributes})
