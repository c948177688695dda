"""moto's EC2 records the local AWS makes and changes: the local stand-in for the Deep Learning AMI, and an
instance's instance-initiated shutdown (both journaled changes; ids drawn from moto's seeded Random)."""

from __future__ import annotations

from typing import Any

from mlops_cli.local.moto_compat.backends import backend


def image_names(account: str, region: str) -> list[str]:
    return [image.name for image in backend("ec2", account, region).amis.values()]


def new_ami(account: str, region: str, **attributes: Any) -> str:
    """Add an image to the region's EC2; its id drawn from moto's seeded Random. Returns the id."""
    from moto.ec2.models.amis import Ami
    from moto.ec2.utils import random_ami_id

    ec2 = backend("ec2", account, region)
    ami_id = random_ami_id()
    ec2.amis[ami_id] = Ami(ec2, ami_id, **attributes)
    return ami_id


def shut_down_instance(account: str, region: str, instance_id: str, terminate: bool, message: str, code: str) -> None:
    """The instance stopped (or terminated) with this state reason, unless it already is stopped or terminated."""
    from moto.ec2.models.instances import StateReason

    instance = backend("ec2", account, region).get_instance(instance_id)
    if instance.state in ("terminated", "stopped"):
        return
    if terminate:
        instance.terminate()
    else:
        instance.stop()
    instance.state_reason = StateReason(message, code)
