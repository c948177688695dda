"""The config's offline checks agree with what botocore's service models say AWS accepts."""

from __future__ import annotations

import re

import botocore.loaders
import pytest

from mlops_cli.config import aws_rules, schema

LOADER = botocore.loaders.create_loader()


def shape(service: str, name: str) -> dict:
    return LOADER.load_service_model(service, "service-2")["shapes"][name]


@pytest.mark.parametrize(
    "section, field, kind",
    [
        (schema.SageMakerTrainConfig, "instance_type", aws_rules.TRAINING_INSTANCE),
        (schema.DeployConfig, "instance_type", aws_rules.HOSTING_INSTANCE),
        (schema.Ec2TrainConfig, "instance_type", aws_rules.EC2_INSTANCE),
    ],
)
def test_default_instance_types_are_in_the_service_model_enums(section, field, kind):
    assert section.model_fields[field].default in shape(kind[0], kind[1])["enum"]


@pytest.mark.parametrize(
    "section, field, service, name",
    [
        (schema.DeployConfig, "endpoint_name", "sagemaker", "EndpointName"),
        (schema.DeployConfig, "variant_name", "sagemaker", "VariantName"),
    ],
)
def test_name_patterns_are_the_service_models(section, field, service, name):
    model = shape(service, name)
    constraints = {type(item).__name__: item for item in section.model_fields[field].metadata}
    ours = next(item.pattern for item in section.model_fields[field].metadata if hasattr(item, "pattern"))
    for sample in ("a", "a-b", "a--b", "A1", "-a", "a-", "a_b", "a" * 63):
        assert bool(re.fullmatch(ours, sample)) == bool(re.fullmatch(model["pattern"], sample)), sample
    assert constraints["MaxLen"].max_length == model["max"]


def test_lambda_alias_rule_is_the_service_models():
    model = shape("lambda", "Alias")
    for sample in ("live", "v_1", "123", "1a", "a b", "-x", "a" * 128, "a" * 129, "é"):
        aws_accepts = bool(re.fullmatch(model["pattern"], sample)) and model["min"] <= len(sample) <= model["max"]
        try:
            schema.LambdaConfig(alias=sample)
            accepted = True
        except ValueError:
            accepted = False
        assert accepted == aws_accepts, sample


def test_regions_are_botocores_partitions():
    regions = {region for partition in LOADER.load_data("endpoints")["partitions"] for region in partition["regions"]}
    assert set(aws_rules._aws_values()["regions"]) == regions
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= regions
