"""SageMaker PyTorch Deep Learning Container image URIs, resolved offline.

The source of truth is the SageMaker SDK family's `image_uri_config/pytorch.json` (shipped in the
`sagemaker-core` wheel as `sagemaker/core/image_uri_config/pytorch.json`). Installing that SDK costs minutes and
pulls pandas/scipy, so a trimmed copy (the `training` and `inference` scopes, PyTorch >= 2.0) is committed as
`pytorch_images.json` beside this module; `trim_sdk_table` makes it from the SDK file, and a test checks that the
copy still matches the SDK's file wherever the SDK is installed.

    image_uri("us-east-1", "2.6", "py312", "ml.m5.xlarge", "training")
    -> "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312"

Versions: an exact one ("2.6.0"), an alias the SDK defines ("2.6" -> "2.6.0"), or "2.x"/"latest" for the newest
release of that major (or of all) offering the requested Python version. CPU or GPU follows the instance type,
as in the SDK: ml.p* and ml.g* are GPU, the rest CPU.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlops_cli.errors import UsageError

SCOPES = ("training", "inference")
SDK_SOURCE = "sagemaker/core/image_uri_config/pytorch.json"
TABLE_FILE = Path(__file__).with_name("pytorch_images.json")
MIN_VERSION = (2, 0)
# Instance families the CPU/GPU table cannot serve (they need the Neuron images, not in this table).
NEURON_FAMILIES = ("inf", "trn")
# AWS Graviton (arm64) families: a generation digit then "g" (ml.c7g, ml.m6gd, ml.r8g, ml.c6gn). The table's images
# are x86_64; the SDK keeps arm64 PyTorch images in a separate `inference_graviton` scope, not trimmed in here.
GRAVITON_FAMILY = re.compile(r"[a-z]+\d+g[a-z]*")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def trim_sdk_table(sdk: dict[str, Any]) -> dict[str, Any]:
    """The part of the SDK's pytorch.json this project uses: training + inference scopes, versions >= 2.0."""
    trimmed: dict[str, Any] = {}
    for scope in SCOPES:
        section = sdk[scope]
        versions = {
            version: section["versions"][version]
            for version in section["versions"]
            if _version_key(version)[:2] >= MIN_VERSION
        }
        trimmed[scope] = {
            "processors": section["processors"],
            "version_aliases": {
                alias: target for alias, target in section.get("version_aliases", {}).items() if target in versions
            },
            "versions": versions,
        }
    return trimmed


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    return json.loads(TABLE_FILE.read_text())


CPU_INSTANCE_TYPE = "ml.m5.large"  # stands for "a CPU image" where no instance type applies (serverless)


def processor(instance_type: str) -> str:
    """`cpu` or `gpu` for an `ml.<family>.<size>` instance type (the SDK's rule: ml.p*/ml.g* are GPU)."""
    found = re.fullmatch(r"ml\.([a-z0-9-]+)\.[a-z0-9]+", instance_type)
    if not found:
        raise UsageError(f"'{instance_type}' is not a SageMaker instance type (ml.<family>.<size>)")
    family = found.group(1)
    if family.startswith(NEURON_FAMILIES):
        raise UsageError(
            f"instance type '{instance_type}' needs a Neuron image, which mlops does not resolve; "
            "choose a CPU (ml.m*/ml.c*) or GPU (ml.g*/ml.p*) instance type"
        )
    if GRAVITON_FAMILY.fullmatch(family):
        raise UsageError(
            f"instance type '{instance_type}' is AWS Graviton (arm64) and the PyTorch images mlops "
            "resolves are x86_64; choose an x86 type such as ml.m5.large or ml.c5.xlarge"
        )
    return "gpu" if family[0] in ("g", "p") else "cpu"


def resolve_version(scope: str, framework_version: str, py_version: str) -> str:
    """The exact framework version in the table for `framework_version` (exact, alias, `2.x` or `latest`)."""
    if scope not in SCOPES:
        raise UsageError(f"image scope must be one of {', '.join(SCOPES)}, not '{scope}'")
    section = table()[scope]
    versions = section["versions"]
    wanted = framework_version.strip().lower()
    if wanted == "latest" or re.fullmatch(r"\d+\.x", wanted):
        major = None if wanted == "latest" else int(wanted.split(".")[0])
        candidates = [
            version
            for version, entry in versions.items()
            if (major is None or _version_key(version)[0] == major) and py_version in entry["py_versions"]
        ]
        if not candidates:
            raise UsageError(
                f"no PyTorch {scope} image for version '{framework_version}' with {py_version}; "
                f"known versions: {', '.join(sorted(versions, key=_version_key))}"
            )
        return max(candidates, key=_version_key)
    exact = section["version_aliases"].get(wanted, wanted)
    if exact not in versions:
        known = sorted(set(versions) | set(section["version_aliases"]), key=_version_key)
        raise UsageError(
            f"no PyTorch {scope} image for framework version '{framework_version}'; "
            f"known: {', '.join(known)}, or 2.x / latest"
        )
    return exact


def registries(region: str) -> list[str]:
    """The accounts the PyTorch Deep Learning Container images of `region` are published from."""
    return sorted(
        {
            entry["registries"][region]
            for scope in SCOPES
            for entry in table()[scope]["versions"].values()
            if region in entry["registries"]
        }
    )


def _dns_suffix(region: str) -> str:
    """The partition's DNS suffix (amazonaws.com, amazonaws.com.cn, ...), from botocore's bundled endpoint data."""
    from mlops_cli.config.aws_rules import botocore_loader

    partitions = botocore_loader().load_data("endpoints")["partitions"]
    for partition in partitions:
        if region in partition.get("regions", {}):
            return partition["dnsSuffix"]
    for partition in partitions:
        if re.match(partition["regionRegex"], region):
            return partition["dnsSuffix"]
    return "amazonaws.com"


def image_uri(region: str, framework_version: str, py_version: str, instance_type: str, scope: str) -> str:
    """The PyTorch DLC image URI for this region, version, Python, instance type and scope (training|inference)."""
    version = resolve_version(scope, framework_version, py_version)
    entry = table()[scope]["versions"][version]
    if py_version not in entry["py_versions"]:
        raise UsageError(
            f"PyTorch {version} {scope} images are built for {', '.join(entry['py_versions'])}, "
            f"not {py_version} (set train.sagemaker.py_version)"
        )
    account = entry["registries"].get(region)
    if account is None:
        raise UsageError(f"no PyTorch {version} {scope} image is published in region '{region}'")
    tag = f"{version}-{processor(instance_type)}-{py_version}"
    return f"{account}.dkr.ecr.{region}.{_dns_suffix(region)}/{entry['repository']}:{tag}"
