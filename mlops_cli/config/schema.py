"""The one schema for the whole YAML config. Defaults mirror the course project (ResNet50 transfer learning,
133 dog breeds, ml.m5.xlarge training, ml.m5.large endpoint, scaling to 2 at 5 invocations/instance)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mlops_cli.common.s3_uris import s3_uri
from mlops_cli.config import aws_rules
from mlops_cli.config.sections import Hyperparameters, ModelConfig, Section

SEVERITIES = ("critical", "high", "medium", "low")
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$"  # SageMaker/Lambda resource-name alphabet
KEY_PATTERN = r"^[A-Za-z0-9!_.*'()/-]*$"
ML_INSTANCE_PATTERN = r"^ml\.[a-z0-9]+\.[a-z0-9]+$"
ROLE_ARN_PATTERN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"
# What each pattern means, for error messages a person can act on.
PATTERN_MEANINGS = {
    NAME_PATTERN: "letters, digits and hyphens, starting and ending with a letter or digit",
    KEY_PATTERN: "S3 key characters (letters, digits, / ! _ . * ' ( ) -)",
    ML_INSTANCE_PATTERN: "a SageMaker instance type such as ml.m5.xlarge",
    ROLE_ARN_PATTERN: "an IAM role ARN such as arn:aws:iam::123456789012:role/name",
    r"^[a-z0-9]+\.[a-z0-9]+$": "an EC2 instance type such as m5.xlarge",
    r"^[a-z0-9](-?[a-z0-9])*$": "lowercase letters, digits and single hyphens",
    r"^ami-[0-9a-f]{8,17}$": "an AMI id (ami-…)",
    r"^subnet-[0-9a-f]{8,17}$": "a subnet id (subnet-…)",
    r"^[a-zA-Z0-9_-]+$": "letters, digits, hyphens and underscores",
    r"^[a-zA-Z0-9_-]{1,128}$": "1-128 letters, digits, hyphens and underscores",
    r"^(\d+\.\d+(\.\d+)?|\d+\.x|latest)$": "a PyTorch version such as 2.6, 2.x or latest",
    r"^py3\d+$": "a Python version tag such as py312",
}


class AwsConfig(Section):
    region: str = "us-east-1"
    profile: str | None = None
    endpoint_url: str | None = Field(
        None, description="one endpoint for every service (set by configs/local.yaml for the embedded local AWS)"
    )

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        return aws_rules.check_region(value)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_is_safe(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from mlops_cli.config.urls import check_endpoint_url

        return check_endpoint_url(value)


class S3Config(Section):
    bucket: str = "my-ml-bucket"
    prefix: str = Field("dog-breeds", pattern=KEY_PATTERN)

    @field_validator("bucket")
    @classmethod
    def _bucket_rules(cls, value: str) -> str:
        return aws_rules.check_bucket_name(value)

    @field_validator("prefix")
    @classmethod
    def _strip_slashes(cls, value: str) -> str:
        return aws_rules.check_prefix(value).strip("/")


class DataConfig(Section):
    local_dir: str = "data/dogImages"
    s3_prefix: str = Field("data", pattern=KEY_PATTERN)

    @field_validator("s3_prefix")
    @classmethod
    def _usable_prefix(cls, value: str) -> str:
        return aws_rules.check_prefix(value)


class SageMakerTrainConfig(Section):
    instance_type: str = Field("ml.m5.xlarge", pattern=ML_INSTANCE_PATTERN)
    instance_count: int = Field(1, ge=1, le=100)

    @field_validator("instance_type")
    @classmethod
    def _offered(cls, value: str) -> str:
        return aws_rules.check_instance_type(value, aws_rules.TRAINING_INSTANCE)

    framework_version: str = Field("2.6", pattern=r"^(\d+\.\d+(\.\d+)?|\d+\.x|latest)$")
    py_version: str = Field("py312", pattern=r"^py3\d+$")
    role_arn: str | None = Field(None, pattern=ROLE_ARN_PATTERN)
    spot: bool = False
    max_run_s: int = Field(3600, ge=60, le=28 * 24 * 3600)
    max_wait_s: int | None = Field(None, ge=60, description="spot only; defaults to 2 x max_run_s")
    volume_gb: int = Field(30, ge=1, le=16_384)

    @model_validator(mode="after")
    def _wait_covers_run(self) -> SageMakerTrainConfig:
        if self.max_wait_s is not None and self.max_wait_s < self.max_run_s:
            raise ValueError("max_wait_s must be >= max_run_s (SageMaker managed spot rule)")
        return self


class Ec2TrainConfig(Section):
    # A GPU type the PyTorch Deep Learning AMI supports (mlops_cli.services.ec2.images.DLAMI_FAMILIES).
    instance_type: str = Field("g4dn.xlarge", pattern=r"^[a-z0-9]+\.[a-z0-9]+$")
    ami_id: str | None = Field(None, pattern=r"^ami-[0-9a-f]{8,17}$", description="null = look up a DLAMI")
    subnet_id: str | None = Field(None, pattern=r"^subnet-[0-9a-f]{8,17}$")
    security_group_ids: list[str] = Field(default_factory=list)
    key_name: str | None = None
    volume_gb: int = Field(100, ge=8, le=16_384)
    # The hard runtime cap: the instance powers off (and terminates) this long after its bootstrap starts, even if
    # training hangs; shutdown(8) counts whole minutes, so it is rounded up to one.
    max_run_s: int = Field(3600, ge=60, le=28 * 24 * 3600)

    @field_validator("instance_type")
    @classmethod
    def _offered(cls, value: str) -> str:
        return aws_rules.check_instance_type(value, aws_rules.EC2_INSTANCE)

    @field_validator("security_group_ids")
    @classmethod
    def _sg_ids(cls, values: list[str]) -> list[str]:
        import re

        for value in values:
            if not re.fullmatch(r"sg-[0-9a-f]{8,17}", value):
                raise ValueError(f"'{value}' is not a security group id (sg-…)")
        return values


class TrainConfig(Section):
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    sagemaker: SageMakerTrainConfig = Field(default_factory=SageMakerTrainConfig)
    ec2: Ec2TrainConfig = Field(default_factory=Ec2TrainConfig)


def _default_ranges() -> dict[str, Any]:
    # Transfer learning on a pretrained backbone: small learning rates on a log scale, the usual batch sizes.
    return {"lr": "0.0001:0.1:log", "batch_size": [16, 32, 64, 128], "weight_decay": "0.00001:0.01:log"}


class TuneConfig(Section):
    """`mlops tune`: a SageMaker hyperparameter tuning job over the training job `mlops train` runs."""

    strategy: Literal["bayesian", "random", "grid", "hyperband"] = "bayesian"
    objective: str = Field("valid_loss:min", description="a training or validation metric, :min or :max")
    max_jobs: int = Field(8, ge=1, le=10_000)
    parallel: int = Field(2, ge=1, le=100)
    early_stopping: Literal["auto", "off"] = Field("off", description="auto: stop trials by the median rule")
    ranges: dict[str, str | list[bool | int | float | str]] = Field(
        default_factory=_default_ranges,
        description="name: LOW:HIGH[:log|:linear|:reverselog|:auto] (numbers) or a list of values (categorical)",
    )

    @field_validator("early_stopping", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return {False: "off", True: "auto"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: str) -> str:
        from mlops_cli.config.tuning_ranges import parse_objective

        return parse_objective(value).spec

    @field_validator("ranges")
    @classmethod
    def _ranges(cls, value: dict[str, Any]) -> dict[str, Any]:
        from mlops_cli.config.tuning_ranges import parse_range

        if not value:
            raise ValueError("at least one hyperparameter range is needed")
        for name, spec in value.items():
            parse_range(name, spec)
        return value


SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)  # what SageMaker serverless endpoints offer


class ServerlessConfig(Section):
    """A serverless endpoint (ServerlessConfig) instead of instances when memory_mb is set."""

    memory_mb: int | None = Field(None, description="1024 to 6144 in steps of 1024; unset: instances")
    max_concurrency: int = Field(5, ge=1, le=200)

    @field_validator("memory_mb")
    @classmethod
    def _offered(cls, value: int | None) -> int | None:
        if value is not None and value not in SERVERLESS_MEMORY_MB:
            raise ValueError(f"{value} MB is not offered; one of {', '.join(map(str, SERVERLESS_MEMORY_MB))}")
        return value


class RolloutConfig(Section):
    """An update's traffic shifting and automatic rollback (SageMaker deployment guardrails); unset: all at once,
    no alarms (the plain blue/green update)."""

    strategy: str | None = Field(None, description="canary:10%:5m, linear:25%:2m or all-at-once[:5m]")
    rollback_on: list[str] = Field(
        default_factory=list, description="alarm specs (p99>800ms, 5xx>1%, errors>5) or existing alarm names"
    )
    termination_wait_s: int = Field(0, ge=0, le=3600, description="the old fleet stays this long after the shift")
    max_execution_s: int | None = Field(None, ge=600, le=28800, description="SageMaker gives up the update after")

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str | None) -> str | None:
        from mlops_cli.config.rollout_specs import parse_strategy

        return None if value is None else parse_strategy(value).spec

    @field_validator("rollback_on")
    @classmethod
    def _alarms(cls, value: list[str]) -> list[str]:
        from mlops_cli.config.rollout_specs import parse_alarms

        parse_alarms(value)
        return value


class DeployConfig(Section):
    endpoint_name: str | None = Field(None, max_length=63, pattern=NAME_PATTERN)
    instance_type: str = Field("ml.m5.large", pattern=ML_INSTANCE_PATTERN)
    instance_count: int = Field(1, ge=1, le=100)
    variant_name: str = Field("AllTraffic", max_length=63, pattern=NAME_PATTERN)
    serverless: ServerlessConfig = Field(default_factory=ServerlessConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)

    @field_validator("instance_type")
    @classmethod
    def _offered(cls, value: str) -> str:
        return aws_rules.check_instance_type(value, aws_rules.HOSTING_INSTANCE)


class BatchConfig(Section):
    """`mlops predict-batch`: the batch transform job's instances and how it feeds them."""

    instance_type: str = Field("ml.m5.large", pattern=ML_INSTANCE_PATTERN)
    instance_count: int = Field(1, ge=1, le=100)
    max_concurrent_transforms: int = Field(2, ge=1, le=100, description="requests in flight per instance")
    max_payload_mb: int = Field(6, ge=1, le=100, description="the largest input object, MB")
    input_prefix: str = Field("batch-input", min_length=1, max_length=200, pattern=KEY_PATTERN)
    output_prefix: str = Field("predictions", min_length=1, max_length=200, pattern=KEY_PATTERN)

    @field_validator("instance_type")
    @classmethod
    def _offered(cls, value: str) -> str:
        return aws_rules.check_instance_type(value, aws_rules.TRANSFORM_INSTANCE)


class AutoscaleConfig(Section):
    min: int = Field(1, ge=1)
    max: int = Field(2, ge=1)
    target_invocations: float = Field(5, gt=0)
    scale_in_cooldown_s: int = Field(30, ge=0)
    scale_out_cooldown_s: int = Field(30, ge=0)

    @model_validator(mode="after")
    def _min_le_max(self) -> AutoscaleConfig:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class LambdaConfig(Section):
    function_name: str | None = Field(None, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")
    memory_mb: int = Field(256, ge=128, le=10_240)
    timeout_s: int = Field(30, ge=1, le=900)
    alias: str = Field("live", pattern=r"^[a-zA-Z0-9_-]{1,128}$", description="not all digits (AWS rule)")
    # As on AWS: 0 throttles every invocation; null leaves the function on the account's unreserved pool.
    reserved_concurrency: int | None = Field(10, ge=0)
    provisioned_concurrency: int = Field(1, ge=0)

    @field_validator("alias")
    @classmethod
    def _not_a_version_number(cls, value: str) -> str:
        if value.isdigit():
            raise ValueError(f"'{value}' is all digits, which Lambda reads as a version number, not an alias")
        return value

    @model_validator(mode="after")
    def _provisioned_within_reserved(self) -> LambdaConfig:
        # Reserved 0 means the function may not run at all, so no provisioned concurrency either.
        if self.reserved_concurrency is not None and self.provisioned_concurrency > self.reserved_concurrency:
            raise ValueError(
                f"provisioned_concurrency ({self.provisioned_concurrency}) must be <= "
                f"reserved_concurrency ({self.reserved_concurrency})"
            )
        return self


class AuditConfig(Section):
    unused_days: int = Field(90, ge=1)
    key_age_days: int = Field(90, ge=1)
    fail_on: Literal["critical", "high", "medium", "low", "never"] = "high"
    ignore_file: str | None = None


class LocalConfig(Section):
    time_scale: float = Field(
        1.0,
        ge=1,
        le=3600,
        description="how much faster time runs in the embedded local "
        "AWS (autoscaling periods and cooldowns); 1 = real time",
    )
    faults: list[dict[str, Any]] = Field(
        default_factory=list,
        description="errors the local AWS answers on demand (docs/local-aws.md, Faults on demand), e.g. "
        "[{operation: 'sagemaker:CreateEndpoint', error: AccessDenied, on_call: 1}]",
    )

    @field_validator("faults")
    @classmethod
    def _faults(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from mlops_cli.local.core.faults import parse_rules

        return [rule.to_dict() for rule in parse_rules(value, "")]


class Config(Section):
    project: str = Field("dog-breeds", min_length=1, max_length=32, pattern=r"^[a-z0-9](-?[a-z0-9])*$")
    aws: AwsConfig = Field(default_factory=AwsConfig)
    s3: S3Config = Field(default_factory=S3Config)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    tune: TuneConfig = Field(default_factory=TuneConfig)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    batch: BatchConfig = Field(default_factory=BatchConfig)
    autoscale: AutoscaleConfig = Field(default_factory=AutoscaleConfig)
    lambda_: LambdaConfig = Field(default_factory=LambdaConfig, alias="lambda")
    audit: AuditConfig = Field(default_factory=AuditConfig)
    local: LocalConfig = Field(default_factory=LocalConfig)

    # Names derived from the project, so every resource carries it (and `teardown` can find them all).
    @property
    def endpoint_name(self) -> str:
        return self.deploy.endpoint_name or f"{self.project}-endpoint"

    @property
    def function_name(self) -> str:
        return self.lambda_.function_name or f"{self.project}-invoke"

    @property
    def s3_root(self) -> str:
        return s3_uri(self.s3.bucket, self.s3.prefix)

    def s3_uri(self, *parts: str) -> str:
        return s3_uri(self.s3.bucket, self.s3.prefix, *parts)

    def as_plain(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)
