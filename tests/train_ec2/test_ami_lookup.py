"""Finding the Deep Learning AMI: Amazon-owned, the instance type's architecture, the newest; clear errors."""

from __future__ import annotations

import pytest

from mlops_cli.errors import UsageError
from mlops_cli.services.ec2 import images as ec2_images


@pytest.mark.parametrize(
    "instance_type, arch",
    [
        ("m5.xlarge", "x86_64"),
        ("g5.xlarge", "x86_64"),
        ("g4dn.xlarge", "x86_64"),
        ("p4d.24xlarge", "x86_64"),
        ("c6in.large", "x86_64"),
        ("m7i.large", "x86_64"),
        ("trn1.2xlarge", "x86_64"),
        ("m7g.large", "arm64"),
        ("c6gn.large", "arm64"),
        ("t4g.small", "arm64"),
        ("g5g.xlarge", "arm64"),
        ("r6gd.large", "arm64"),
        ("a1.large", "arm64"),
    ],
)
def test_architecture_of_instance_types(instance_type, arch):
    assert ec2_images.architecture(instance_type) == arch


def test_newest_image_by_creation_date():
    images = [
        {"ImageId": "ami-1", "CreationDate": "2024-11-02T10:00:00.000Z"},
        {"ImageId": "ami-2", "CreationDate": "2025-03-01T09:00:00.000Z"},
        {"ImageId": "ami-3", "CreationDate": "2025-02-28T23:59:59.000Z"},
    ]
    assert ec2_images.newest_image(images)["ImageId"] == "ami-2"
    assert ec2_images.newest_image([]) is None


def test_root_volume_is_never_smaller_than_the_image_snapshot():
    image = {
        "RootDeviceName": "/dev/xvda",
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 140}},
            {"DeviceName": "/dev/sdb", "Ebs": {"VolumeSize": 900}},
        ],
    }
    assert ec2_images.root_volume(image, 100) == {
        "DeviceName": "/dev/xvda",
        "Ebs": {"VolumeSize": 140, "VolumeType": "gp3", "DeleteOnTermination": True, "Encrypted": True},
    }
    assert ec2_images.root_volume(image, 200)["Ebs"]["VolumeSize"] == 200


def test_lookup_finds_an_amazon_dlami_and_ignores_look_alikes(boto_client):
    ec2 = boto_client("ec2")
    # Anyone can name an AMI like the DLAMI; one registered by this account must never be chosen.
    fake = ec2.register_image(
        Name="Deep Learning OSS Nvidia Driver AMI GPU PyTorch 9.9 (Ubuntu 24.04) 20991231",
        Architecture="x86_64",
        RootDeviceName="/dev/sda1",
    )["ImageId"]
    image = ec2_images.find_image(ec2, "m5.large")
    assert image["ImageId"] != fake
    assert image["Name"].startswith("Deep Learning OSS Nvidia Driver AMI GPU PyTorch")
    assert image["Architecture"] == "x86_64" and image["State"] == "available"


def test_configured_ami_id_overrides_the_lookup(boto_client):
    ec2 = boto_client("ec2")
    own = ec2.register_image(Name="my-pytorch-image", Architecture="x86_64")["ImageId"]
    assert ec2_images.find_image(ec2, "m5.large", ami_id=own)["ImageId"] == own
    with pytest.raises(UsageError, match="ami-0123456789abcdef0.*not found"):
        ec2_images.find_image(ec2, "m5.large", ami_id="ami-0123456789abcdef0")


def test_no_matching_ami_is_a_clear_error_and_writes_nothing(mlops, boto_client):
    # A project of its own: no earlier test has made its bucket, code object or role.
    env = {"MLOPS_PROJECT": "noami", "MLOPS_S3__BUCKET": "mlops-noami"}
    result = mlops("train-ec2", "--instance-type", "m7g.large", "--job-name", "noami-ec2", env=env)
    assert result.exit_code == 2, result.output
    assert "no Deep Learning AMI for arm64 (m7g.large) found" in result.stderr
    assert "train.ec2.ami_id" in result.stderr
    reservations = boto_client("ec2").describe_instances(Filters=[{"Name": "tag:mlops:job", "Values": ["noami-ec2"]}])[
        "Reservations"
    ]
    assert reservations == []
    buckets = [bucket["Name"] for bucket in boto_client("s3").list_buckets()["Buckets"]]
    assert "mlops-noami" not in buckets
    roles = [role["RoleName"] for role in boto_client("iam").list_roles()["Roles"]]
    assert "noami-ec2-train" not in roles
