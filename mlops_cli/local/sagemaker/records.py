"""A change to one of moto's SageMaker records, made through the local AWS's journal so that it survives a
restart, and moto's clock the records are stamped with. Reading records: moto_compat/records/sagemaker.py."""

from __future__ import annotations

from typing import Any

from mlops_cli.local.core.server import ServerContext
from mlops_cli.local.moto_compat.records.sagemaker import Collection


def utcnow() -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.utcnow()


def save_record(
    context: ServerContext, account: str, region: str, collection: Collection, name: str, attributes: dict[str, Any]
) -> None:
    """Change moto's record `name` in `collection` (training_jobs, hyper_parameter_tuning_jobs, endpoints...)."""
    context.store.call("moto.set", {"path": ("sagemaker", account, region, collection, name), "attributes": attributes})
