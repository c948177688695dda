"""The scalable targets of SageMaker endpoint variants and their policies, where AWS does more than moto: a
deleted target (DeregisterScalableTarget, or DeleteEndpoint for all of the endpoint's) takes its scaling policies
and their alarms with it, and UpdateEndpoint may not change the instance type of (or remove) a variant registered
as a scalable target. Every change goes through the local AWS's journal; callers hold the hosting lock the
autoscaler evaluates under.
"""

from __future__ import annotations

from mlops_cli.local.autoscaling import alarms as scaling_alarms
from mlops_cli.local.autoscaling.autoscaler import SCALABLE_DIMENSION
from mlops_cli.local.core.server import LocalRequest, ServerContext
from mlops_cli.local.moto_compat.records import autoscaling as scaling_records
from mlops_cli.local.moto_compat.records import sagemaker as records


def blocking_variants(
    request: LocalRequest, endpoint: records.Endpoint, new_config: records.EndpointConfig
) -> list[str]:
    """Variants that are scalable targets whose instance type the update would change (or that it removes)."""
    old_config = records.endpoint_config(request.account, request.region, endpoint.endpoint_config_name)
    old_types = {
        v["VariantName"]: v.get("InstanceType") for v in (old_config.production_variants if old_config else [])
    }
    new_types = {v["VariantName"]: v.get("InstanceType") for v in new_config.production_variants}
    targets = scaling_records.target_resources(request.account, request.region, SCALABLE_DIMENSION)
    prefix = f"endpoint/{endpoint.endpoint_name}/variant/"
    blocked = []
    for resource in targets:
        if resource.startswith(prefix):
            variant = resource[len(prefix) :]
            if variant not in new_types or new_types[variant] != old_types.get(variant):
                blocked.append(variant)
    return blocked


def deregister_endpoint_targets(context: ServerContext, request: LocalRequest, name: str) -> None:
    """The deleted endpoint's scalable targets go, with their policies (called under the hosting lock)."""
    targets = scaling_records.target_resources(request.account, request.region, SCALABLE_DIMENSION)
    for resource in [r for r in targets if r.startswith(f"endpoint/{name}/variant/")]:
        context.store.call(
            "moto.delete",
            {"path": scaling_records.target_path(request.account, request.region, SCALABLE_DIMENSION, resource)},
        )
        delete_policies(context, request, "sagemaker", resource)


def delete_policies(context: ServerContext, request: LocalRequest, namespace: str | None, resource: str | None) -> None:
    policies = scaling_records.policies(request.account, request.region)
    for key in [k for k, p in policies.items() if p.service_namespace == namespace and p.resource_id == resource]:
        context.store.call(
            scaling_alarms.CHANGE,
            {  # AWS deletes a policy's alarms with it
                "account": request.account,
                "region": request.region,
                "resource": resource,
                "policy": policies[key].policy_name,
                "target": None,
            },
        )
        context.store.call("moto.delete", {"path": scaling_records.policy_path(request.account, request.region, key)})
