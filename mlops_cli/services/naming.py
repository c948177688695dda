"""Names and tags of every AWS resource the project creates, derived from the config in one place.

Every resource carries the project tag so `mlops status`/`teardown` and `audit-iam` can find them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

PROJECT_TAG = "mlops:project"
JOB_TAG = "mlops:job"  # on train-ec2 instances: the job they run


def tags(config: Config, **extra: str) -> list[dict[str, str]]:
    """Tags in the Key/Value list shape SageMaker, IAM and EC2 take."""
    return [{"Key": PROJECT_TAG, "Value": config.project}] + [
        {"Key": f"mlops:{key.replace('_', '-')}", "Value": value} for key, value in extra.items()
    ]


def tag_map(config: Config, **extra: str) -> dict[str, str]:
    """Tags in the plain-mapping shape Lambda and Application Auto Scaling take."""
    return {item["Key"]: item["Value"] for item in tags(config, **extra)}


def timestamped(config: Config, kind: str = "", now: float | None = None) -> str:
    """`<project>[-kind]-YYYYmmdd-HHMMSS`: unique per second, sortable, within SageMaker's 63 characters."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now if now is not None else time.time()))
    return "-".join(part for part in (config.project, kind, stamp) if part)[:63]


def sagemaker_role_name(config: Config) -> str:
    return f"{config.project}-sagemaker-execution"


def sagemaker_endpoint_role_name(config: Config) -> str:
    return f"{config.project}-sagemaker-endpoint"


def execution_role_arn(config: Config, account_id: Callable[[], str], partition: str = "aws") -> str:
    """The role SageMaker training jobs run as: train.sagemaker.role_arn, else the project's generated training
    role (the account is looked up only then)."""
    configured = config.train.sagemaker.role_arn
    return configured or f"arn:{partition}:iam::{account_id()}:role/{sagemaker_role_name(config)}"


def endpoint_role_arn(config: Config, account_id: Callable[[], str], partition: str = "aws") -> str:
    """The role SageMaker models (endpoints) run as: train.sagemaker.role_arn, else the project's generated
    endpoint role, which only reads model artifacts."""
    configured = config.train.sagemaker.role_arn
    return configured or f"arn:{partition}:iam::{account_id()}:role/{sagemaker_endpoint_role_name(config)}"


def sagemaker_batch_role_name(config: Config) -> str:
    return f"{config.project}-sagemaker-batch"


def batch_role_arn(config: Config, account_id: Callable[[], str], partition: str = "aws") -> str:
    """The role batch transform models run as: train.sagemaker.role_arn, else the project's generated batch role,
    which reads model artifacts and batch inputs and writes predictions only."""
    configured = config.train.sagemaker.role_arn
    return configured or f"arn:{partition}:iam::{account_id()}:role/{sagemaker_batch_role_name(config)}"


def batch_input_uri(config: Config) -> str:
    """Where `predict-batch` uploads a local folder (one prefix per job under it)."""
    return config.s3_uri(config.batch.input_prefix)


def predictions_uri(config: Config) -> str:
    """Where batch transform jobs write their `.out` objects (one prefix per job under it by default)."""
    return config.s3_uri(config.batch.output_prefix)


def lambda_role_name(config: Config) -> str:
    return f"{config.project}-lambda-invoke"


def ec2_role_name(config: Config) -> str:
    return f"{config.project}-ec2-train"


def code_prefix(config: Config) -> str:
    return config.s3_uri("code")


def data_uri(config: Config) -> str:
    return config.s3_uri(config.data.s3_prefix)


def output_uri(config: Config) -> str:
    """Where training jobs (SageMaker and EC2) write `<job>/output/model.tar.gz`."""
    return config.s3_uri("models")


def checkpoint_uri(config: Config, job_name: str) -> str:
    return config.s3_uri("checkpoints", job_name)
