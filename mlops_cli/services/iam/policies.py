"""Least-privilege IAM policies for the project's own roles, generated from the config in one place.

The Lambda and training helpers create their roles with these documents, and `audit-iam` compares the live
roles against the same documents (and prints them as the replacement when a role has drifted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.services.naming import (
    batch_input_uri,
    code_prefix,
    data_uri,
    ec2_role_name,
    lambda_role_name,
    output_uri,
    predictions_uri,
    sagemaker_batch_role_name,
    sagemaker_endpoint_role_name,
    sagemaker_role_name,
)

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

VERSION = "2012-10-17"


def _policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": VERSION, "Statement": list(statements)}


def assume_role_policy(service: str, account_id: str | None = None) -> dict[str, Any]:
    """Trust policy letting one AWS service (e.g. "lambda.amazonaws.com") assume the role; with `account_id`,
    only on behalf of that account (the confused-deputy guard `aws:SourceAccount`)."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if account_id:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account_id}}
    return _policy(statement)


def lambda_invoke_policy(config: Config, account_id: str, partition: str = "aws") -> dict[str, Any]:
    """The Lambda role: invoke the project's one endpoint and write the function's own logs."""
    region = config.aws.region
    # SageMaker lower-cases resource names in ARNs.
    endpoint = f"arn:{partition}:sagemaker:{region}:{account_id}:endpoint/{config.endpoint_name.lower()}"
    log_group = f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/lambda/{config.function_name}"
    return _policy(
        {
            "Sid": "InvokeProjectEndpoint",
            "Effect": "Allow",
            "Action": ["sagemaker:InvokeEndpoint"],
            "Resource": endpoint,
        },
        {
            "Sid": "FunctionLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_group, f"{log_group}:*"],
        },
    )


def _dlc_repositories(region: str, partition: str) -> list[str]:
    """The PyTorch Deep Learning Container repositories of the region, in the accounts AWS publishes them from
    (the image table's registries), never in any other account."""
    from mlops_cli.services import images

    return [f"arn:{partition}:ecr:{region}:{account}:repository/pytorch-*" for account in images.registries(region)]


def _sagemaker_service_statements(
    config: Config, account_id: str, partition: str, log_groups: str
) -> list[dict[str, Any]]:
    """What every SageMaker container needs: its logs, its metrics, pulling the Deep Learning Container image."""
    region = config.aws.region
    return [
        {
            "Sid": "SageMakerLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": f"arn:{partition}:logs:{region}:{account_id}:log-group:/aws/sagemaker/{log_groups}",
        },
        {
            "Sid": "SageMakerMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": "*",
            "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}},
        },
        {
            "Sid": "PullDeepLearningContainers",
            "Effect": "Allow",
            "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
            "Resource": _dlc_repositories(region, partition),
        },
        {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
    ]


def sagemaker_execution_policy(config: Config, account_id: str, partition: str = "aws") -> dict[str, Any]:
    """The SageMaker training role: read the project's code, data and checkpoints, write job outputs and
    checkpoints (nothing else in S3, no deletes), its logs and metrics, and pull the Deep Learning Containers."""
    from mlops_cli.common.s3_uris import split_s3_uri

    bucket, data_key = split_s3_uri(data_uri(config))
    _, checkpoint_key = split_s3_uri(config.s3_uri("checkpoints"))
    objects = {
        name: _object_arn(partition, uri) + "/*"
        for name, uri in (
            ("code", code_prefix(config)),
            ("data", data_uri(config)),
            ("models", output_uri(config)),
            ("checkpoints", config.s3_uri("checkpoints")),
        )
    }
    return _policy(
        {
            "Sid": "ReadCodeDataAndCheckpoints",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [objects["code"], objects["data"], objects["checkpoints"]],
        },
        {
            "Sid": "WriteOutputsAndCheckpoints",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [objects["models"], objects["checkpoints"]],
        },
        {
            "Sid": "ListDataAndCheckpoints",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:{partition}:s3:::{bucket}",
            "Condition": {
                "StringLike": {"s3:prefix": [data_key, f"{data_key}/*", checkpoint_key, f"{checkpoint_key}/*"]}
            },
        },
        *_sagemaker_service_statements(config, account_id, partition, "TrainingJobs*"),
    )


MODEL_ARTIFACTS = "/*/model.tar.gz"  # under the project's output prefix: where its training jobs put models


def readable_model(config: Config, uri: str) -> bool:
    """Whether the project's generated endpoint and batch roles may read the model at `uri` (MODEL_ARTIFACTS, as
    IAM matches it: `*` spans any characters, slashes included)."""
    prefix = output_uri(config) + "/"
    return uri.startswith(prefix) and uri[len(prefix) :].endswith(MODEL_ARTIFACTS[2:])


def sagemaker_endpoint_policy(config: Config, account_id: str, partition: str = "aws") -> dict[str, Any]:
    """The SageMaker endpoint role: read the model artifacts it serves (the project's model.tar.gz files), write
    nothing in S3; its logs and metrics, and pull the Deep Learning Containers."""
    return _policy(
        {
            "Sid": "ReadModelArtifacts",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": _object_arn(partition, output_uri(config)) + MODEL_ARTIFACTS,
        },
        *_sagemaker_service_statements(config, account_id, partition, "Endpoints/*"),
    )


def sagemaker_batch_policy(config: Config, account_id: str, partition: str = "aws") -> dict[str, Any]:
    """The SageMaker batch transform role: read the model artifacts and the inputs a batch job may take (the
    project's data and its batch-input prefix), list those prefixes, write predictions and nothing else in S3; its
    logs and metrics, and pull the Deep Learning Containers."""
    from mlops_cli.common.s3_uris import split_s3_uri

    bucket, data_key = split_s3_uri(data_uri(config))
    _, input_key = split_s3_uri(batch_input_uri(config))
    return _policy(
        {
            "Sid": "ReadModelArtifactsAndInputs",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [
                _object_arn(partition, output_uri(config)) + MODEL_ARTIFACTS,
                _object_arn(partition, data_uri(config)) + "/*",
                _object_arn(partition, batch_input_uri(config)) + "/*",
            ],
        },
        {
            "Sid": "ListInputs",
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": f"arn:{partition}:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [data_key, f"{data_key}/*", input_key, f"{input_key}/*"]}},
        },
        {
            "Sid": "WritePredictions",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": _object_arn(partition, predictions_uri(config)) + "/*",
        },
        *_sagemaker_service_statements(config, account_id, partition, "TransformJobs*"),
    )


def _object_arn(partition: str, uri: str) -> str:
    from mlops_cli.common.s3_uris import split_s3_uri

    bucket, key = split_s3_uri(uri)
    return f"arn:{partition}:s3:::{bucket}/{key}"


def ec2_read_policy(config: Config, partition: str = "aws") -> dict[str, Any]:
    """The EC2 training role's standing policy: read the project's code and data prefixes (GetObject under them,
    ListBucket only for the data prefix)."""
    from mlops_cli.common.s3_uris import split_s3_uri

    bucket, data_key = split_s3_uri(data_uri(config))
    return _policy(
        {
            "Sid": "ReadCodeAndData",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [
                _object_arn(partition, code_prefix(config)) + "/*",
                _object_arn(partition, data_uri(config)) + "/*",
            ],
        },
        {
            "Sid": "ListData",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:{partition}:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": [f"{data_key}/*"]}},
        },
    )


def ec2_job_policy(job_uri: str, partition: str = "aws") -> dict[str, Any]:
    """One EC2 job's write access, added for the job and removed once it has ended: its own prefix only (model,
    status, log), aborting its own multipart uploads included."""
    return _policy(
        {
            "Sid": "WriteJobOutput",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": _object_arn(partition, job_uri) + "/*",
        }
    )


def ec2_train_policy(config: Config, account_id: str, partition: str = "aws") -> dict[str, Any]:
    """The most the EC2 training role may hold at any time (what audit-iam compares it with): the standing read
    policy plus the job policies of jobs still running, each under the project's models prefix."""
    every_job = ec2_job_policy(output_uri(config), partition)["Statement"]  # <models>/* covers each <models>/<job>/*
    return _policy(*ec2_read_policy(config, partition)["Statement"], *every_job)


@dataclass(frozen=True)
class ProjectRole:
    name: str
    service: str  # the principal its trust policy names
    rule_id: str  # the audit rule that checks it
    policy: Callable[[Config, str, str], dict[str, Any]]


def project_roles(config: Config) -> list[ProjectRole]:
    """The roles the project creates, each with the least-privilege policy it should hold."""
    return [
        ProjectRole(lambda_role_name(config), "lambda.amazonaws.com", "IAM060", lambda_invoke_policy),
        ProjectRole(sagemaker_role_name(config), "sagemaker.amazonaws.com", "IAM061", sagemaker_execution_policy),
        ProjectRole(
            sagemaker_endpoint_role_name(config), "sagemaker.amazonaws.com", "IAM063", sagemaker_endpoint_policy
        ),
        ProjectRole(sagemaker_batch_role_name(config), "sagemaker.amazonaws.com", "IAM064", sagemaker_batch_policy),
        ProjectRole(ec2_role_name(config), "ec2.amazonaws.com", "IAM062", ec2_train_policy),
    ]
