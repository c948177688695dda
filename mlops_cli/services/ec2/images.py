"""The AMI a `mlops train-ec2` instance boots: the configured one, or the newest Amazon-owned PyTorch Deep Learning
AMI for the instance type's architecture, and its root volume."""

from __future__ import annotations

import re
from typing import Any

from mlops_cli.aws import absent_on, error_code
from mlops_cli.errors import UsageError

# Only images owned by Amazon: a name filter alone would also match anyone's public look-alike AMI.
DLAMI_OWNER = "amazon"
# Both run on CPU and GPU instance types and ship PyTorch in /opt/pytorch (older ones: conda env `pytorch`) and the
# AWS CLI. The Base DLAMIs are left out on purpose: they have no PyTorch for the entry point.
DLAMI_NAME_PATTERNS = {
    "x86_64": ["Deep Learning OSS Nvidia Driver AMI GPU PyTorch *", "Deep Learning AMI GPU PyTorch *"],
    "arm64": ["Deep Learning ARM64 AMI OSS Nvidia Driver GPU PyTorch *"],
}
# The instance types the PyTorch DLAMIs document ("Supported EC2 instances" in the AWS Deep Learning AMI release notes
# of "Deep Learning OSS Nvidia Driver AMI GPU PyTorch" and its ARM64 twin): GPU families only.
DLAMI_FAMILIES = {
    "x86_64": ("g4dn", "g5", "g6", "g6e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en"),
    "arm64": ("g5g",),
}


def architecture(instance_type: str) -> str:
    """`arm64` for Graviton families (a `g` after the generation: m7g, c6gn, t4g, g5g; and a1), else `x86_64`."""
    found = re.match(r"^([a-z-]+?)(\d+)([a-z-]*)\.", instance_type)
    if instance_type.startswith("a1.") or (found and "g" in found.group(3)):
        return "arm64"
    return "x86_64"


def dlami_query(instance_type: str) -> dict[str, Any]:
    """The DescribeImages request that finds the candidate Deep Learning AMIs for this instance type."""
    arch = architecture(instance_type)
    return {
        "Owners": [DLAMI_OWNER],
        "Filters": [
            {"Name": "name", "Values": DLAMI_NAME_PATTERNS[arch]},
            {"Name": "architecture", "Values": [arch]},
            {"Name": "state", "Values": ["available"]},
        ],
    }


def newest_image(images: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The image with the latest CreationDate (ISO 8601 strings sort chronologically)."""
    return max(images, key=lambda image: image.get("CreationDate", ""), default=None)


def unsupported_type_warning(instance_type: str, ami_id: str | None) -> str | None:
    """A warning when the looked-up DLAMI does not document `instance_type` (it boots, but unsupported)."""
    families = DLAMI_FAMILIES[architecture(instance_type)]
    if ami_id or instance_type.split(".")[0] in families:
        return None
    return (
        f"{instance_type} is not among the instance types the PyTorch Deep Learning AMI supports "
        f"({', '.join(families)}); choose one of those, or set train.ec2.ami_id to an AMI made for it"
    )


def find_image(ec2: Any, instance_type: str, ami_id: str | None = None) -> dict[str, Any]:
    """The configured AMI, or the newest Amazon-owned PyTorch DLAMI for the instance type's architecture."""
    query = {"ImageIds": [ami_id]} if ami_id else dlami_query(instance_type)
    answer = absent_on(lambda exc: error_code(exc).startswith("InvalidAMIID"), lambda: ec2.describe_images(**query))
    return pick_image(answer or {}, instance_type, ami_id)


def pick_image(answer: dict[str, Any], instance_type: str, ami_id: str | None = None) -> dict[str, Any]:
    """The image a DescribeImages answer (of `find_image`'s query) gives: the configured one, else the newest."""
    images = answer.get("Images", [])
    if ami_id:
        if not images:
            raise UsageError(f"train.ec2.ami_id '{ami_id}' was not found in this region")
        return images[0]
    image = newest_image(images)
    if image is None:
        query = dlami_query(instance_type)
        patterns = " or ".join(f"'{pattern}'" for pattern in query["Filters"][0]["Values"])
        raise UsageError(
            f"no Deep Learning AMI for {architecture(instance_type)} ({instance_type}) found: no available image "
            f"owned by {DLAMI_OWNER} is named {patterns}",
            hint="set train.ec2.ami_id to an AMI with PyTorch and the AWS CLI, or choose another --instance-type",
        )
    return image


def root_volume(image: dict[str, Any] | None, volume_gb: int) -> dict[str, Any]:
    """The root device mapping: encrypted gp3, deleted with the instance, at least as big as the AMI's snapshot."""
    device = "<RootDeviceName of the AMI>"
    size = volume_gb
    if image is not None:
        device = image.get("RootDeviceName", "/dev/sda1")
        for mapping in image.get("BlockDeviceMappings", []):
            if mapping.get("DeviceName") == device:
                size = max(size, int(mapping.get("Ebs", {}).get("VolumeSize") or 0))
    return {
        "DeviceName": device,
        "Ebs": {"VolumeSize": size, "VolumeType": "gp3", "DeleteOnTermination": True, "Encrypted": True},
    }
