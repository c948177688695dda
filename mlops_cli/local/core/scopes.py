"""What a signature may name, as botocore knows AWS: the regions and services of a SigV4 credential scope (its
partition and endpoint data and its list of services, plus the local AWS's own control API), and S3's
subresources (its service model)."""

from __future__ import annotations

import functools

LOCAL_SERVICES = frozenset({"mlops"})  # the local AWS's own control API (mlops_cli.local.core.faults.CONTROL_PATH)


@functools.cache
def known_scopes() -> tuple[frozenset[str], frozenset[str]]:
    """(regions, signing names) AWS has, from botocore's own partition and endpoint data and its service list."""
    import botocore.loaders

    loader = botocore.loaders.create_loader()
    regions: set[str] = set()
    services = set(loader.list_available_services("service-2")) | LOCAL_SERVICES
    for partition in loader.load_data("partitions")["partitions"]:
        regions.update(partition["regions"])
    for partition in loader.load_data("endpoints")["partitions"]:
        regions.update(partition["regions"])
        for prefix, service in partition["services"].items():
            services.add(prefix)
            for endpoint in [service.get("defaults", {}), *service.get("endpoints", {}).values()]:
                scoped = endpoint.get("credentialScope", {})
                services.update(value for key, value in scoped.items() if key == "service")
                regions.update(value for key, value in scoped.items() if key == "region")
    return frozenset(regions), frozenset(services)


def scope_problem(region: str, service: str) -> str | None:
    """AWS's answer to a credential scope naming a region or a service it does not have."""
    regions, services = known_scopes()
    if region not in regions:
        return f"Credential should be scoped to a valid region, not '{region}'."
    if service not in services:
        return f"Credential should be scoped to correct service, not '{service}'."
    return None


@functools.cache
def s3_subresources() -> frozenset[str]:
    """The subresources S3's operations are told apart by (`?retention` in PutObjectRetention's request URI), from
    botocore's S3 model. The older signature covers only those botocore's HmacV1Auth knows, far fewer."""
    import botocore.loaders

    model = botocore.loaders.create_loader().load_service_model("s3", "service-2")
    return frozenset(
        part
        for operation in model["operations"].values()
        for part in operation["http"]["requestUri"].partition("?")[2].split("&")
        if part and "=" not in part
    )
