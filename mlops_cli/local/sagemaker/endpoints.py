"""What the local AWS keeps of an endpoint: moto's record (DescribeEndpoint and ListEndpoints answer from it),
changed only through the local AWS's journal so that it survives a restart.

moto marks every endpoint InService at once and has no UpdateEndpoint; the record here follows what the model
servers do (hosting.py): Creating, Updating, InService with the configuration that serves, or Failed.
"""

from __future__ import annotations

from typing import Any

from mlops_cli.local.core.server import ServerContext
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.records import save_record, utcnow


def save_endpoint(context: ServerContext, account: str, region: str, name: str, **attributes: Any) -> None:
    """Change moto's endpoint record, durably (the local AWS's journal)."""
    save_record(context, account, region, "endpoints", name, attributes)


def record_in_service(
    context: ServerContext,
    account: str,
    region: str,
    endpoint: records.Endpoint,
    config_name: str,
    update: dict[str, Any] | None,
    **extra: Any,
) -> None:
    """The endpoint InService with `config_name`'s variants; an update with RetainAllVariantProperties keeps the
    instance counts and weights (but those it excludes). `extra`: more attributes of the record to set."""
    config = records.endpoint_config(account, region, config_name)
    variants = records.serving_variants(endpoint, config.production_variants if config else [])
    if update and update["retain"]:
        old = {v["VariantName"]: v for v in endpoint.production_variants}
        kept = {
            "DesiredInstanceCount": ("CurrentInstanceCount", "DesiredInstanceCount"),
            "DesiredWeight": ("CurrentWeight", "DesiredWeight"),
        }
        for variant in variants:
            for prop, keys in kept.items():
                if variant["VariantName"] in old and prop not in update["exclude"]:
                    for key in keys:
                        if key in old[variant["VariantName"]]:
                            variant[key] = old[variant["VariantName"]][key]
    save_endpoint(
        context,
        account,
        region,
        endpoint.endpoint_name,
        production_variants=variants,
        endpoint_config_name=config_name,
        endpoint_status="InService",
        failure_reason=None,
        last_modified_time=utcnow(),
        **extra,
    )
