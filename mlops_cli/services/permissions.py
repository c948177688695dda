"""The least-privilege IAM policy a person or CI role needs to run given `mlops` commands.

Each command lists the AWS operations it sends, as botocore names them: its plan's steps plus the reads and
waits around the plan (describes, polls, the account lookup). Operations become IAM actions by IAM's naming
(the service prefix and the operation, except where IAM names them otherwise: S3's object and listing calls,
Lambda's Invoke), and resources are scoped to the project's ARNs (names from services/naming.py). The roles
the project generates are passed to the one service that runs as them (`iam:PassedToService`).

tests/strict/test_permissions.py runs the commands against the local AWS, records every call they make, and
checks each one against this policy with the audit's own policy engine, so the lists cannot fall behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import UsageError
from mlops_cli.services import naming
from mlops_cli.services.iam_policies import VERSION

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

# What each command sends, per service (boto3 service name -> operations). Commands that send nothing to AWS
# (`config`, `local`, `data sample`, `train-ec2 --local` without --upload) are absent.
_TRAINING_ROLE = {
    "iam": ("GetRole", "CreateRole", "PutRolePolicy", "TagRole", "UpdateAssumeRolePolicy"),
    "sts": ("GetCallerIdentity",),
}
_LOGS_READ = {"logs": ("DescribeLogStreams", "GetLogEvents")}
_SCALING = {
    "application-autoscaling": (
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
        "ListTagsForResource",
        "RegisterScalableTarget",
        "PutScalingPolicy",
        "TagResource",
        "DeleteScalingPolicy",
        "DeregisterScalableTarget",
    ),
}
COMMANDS: dict[str, dict[str, tuple[str, ...]]] = {
    "data upload": {
        "s3": (
            "HeadBucket",
            "CreateBucket",
            "ListObjectsV2",
            "HeadObject",
            "PutObject",
            "CreateMultipartUpload",
            "UploadPart",
            "CompleteMultipartUpload",
            "AbortMultipartUpload",
            "ListMultipartUploads",
            "DeleteObjects",
        ),
    },
    "train": {
        **_TRAINING_ROLE,
        **_LOGS_READ,
        "s3": ("HeadObject", "PutObject", "ListObjectsV2"),
        "sagemaker": ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob"),
    },
    "tune": {
        **_TRAINING_ROLE,
        **_LOGS_READ,
        "s3": ("HeadObject", "PutObject", "ListObjectsV2"),
        "sagemaker": (
            "CreateHyperParameterTuningJob",
            "DescribeHyperParameterTuningJob",
            "ListTrainingJobsForHyperParameterTuningJob",
            "StopHyperParameterTuningJob",
            "DescribeTrainingJob",
        ),
    },
    "train-ec2": {
        "sts": ("GetCallerIdentity",),
        "iam": (
            "GetRole",
            "CreateRole",
            "TagRole",
            "PutRolePolicy",
            "ListRolePolicies",
            "DeleteRolePolicy",
            "GetInstanceProfile",
            "CreateInstanceProfile",
            "TagInstanceProfile",
            "AddRoleToInstanceProfile",
        ),
        "s3": ("HeadObject", "PutObject", "GetObject", "ListObjectsV2"),
        "ec2": ("DescribeImages", "RunInstances", "DescribeInstances", "CreateTags"),
        "ssm": ("GetParameter",),
    },
    "deploy": {
        **_SCALING,
        "sts": ("GetCallerIdentity",),
        "iam": ("GetRole", "CreateRole", "PutRolePolicy", "TagRole", "UpdateAssumeRolePolicy"),
        "s3": ("HeadObject",),
        "sagemaker": (
            "ListTrainingJobs",
            "DescribeTrainingJob",
            "DescribeEndpoint",
            "DescribeEndpointConfig",
            "CreateModel",
            "CreateEndpointConfig",
            "CreateEndpoint",
            "UpdateEndpoint",
            "DeleteEndpointConfig",
            "DeleteModel",
        ),
    },
    "autoscale": {**_SCALING, "sagemaker": ("DescribeEndpoint",)},
    "invoke": {"sagemaker-runtime": ("InvokeEndpoint",)},
    "loadtest": {
        "sagemaker": ("DescribeEndpoint",),
        "sagemaker-runtime": ("InvokeEndpoint",),
        "lambda": ("GetFunction", "Invoke"),
        "application-autoscaling": ("DescribeScalableTargets",),
    },
    "lambda deploy": {
        "sts": ("GetCallerIdentity",),
        "sagemaker": ("DescribeEndpoint",),
        "iam": (
            "GetRole",
            "CreateRole",
            "TagRole",
            "UpdateAssumeRolePolicy",
            "ListRolePolicies",
            "GetRolePolicy",
            "PutRolePolicy",
            "DeleteRolePolicy",
            "ListAttachedRolePolicies",
            "DetachRolePolicy",
        ),
        "lambda": (
            "GetFunction",
            "GetFunctionConfiguration",
            "CreateFunction",
            "UpdateFunctionCode",
            "UpdateFunctionConfiguration",
            "PublishVersion",
            "GetAlias",
            "CreateAlias",
            "UpdateAlias",
            "ListTags",
            "TagResource",
        ),
    },
    "lambda invoke": {"lambda": ("Invoke",)},
    "concurrency set": {
        "lambda": (
            "GetFunction",
            "GetAlias",
            "GetAccountSettings",
            "GetProvisionedConcurrencyConfig",
            "PutFunctionConcurrency",
            "DeleteFunctionConcurrency",
            "PutProvisionedConcurrencyConfig",
            "DeleteProvisionedConcurrencyConfig",
        ),
    },
    "audit-iam": {
        "sts": ("GetCallerIdentity",),
        "iam": ("GetAccountAuthorizationDetails", "GetAccessKeyLastUsed", "GetRole"),
    },
    "status": {
        "sagemaker": (
            "ListTrainingJobs",
            "DescribeTrainingJob",
            "ListHyperParameterTuningJobs",
            "ListEndpoints",
            "DescribeEndpoint",
            "DescribeEndpointConfig",
            "ListTags",
        ),
        "application-autoscaling": ("DescribeScalableTargets", "DescribeScalingPolicies"),
        "ec2": ("DescribeInstances",),
        "lambda": ("ListFunctions", "ListTags", "ListProvisionedConcurrencyConfigs"),
    },
    "teardown": {
        **_SCALING,
        "sagemaker": (
            "ListEndpoints",
            "ListEndpointConfigs",
            "ListModels",
            "ListTrainingJobs",
            "ListHyperParameterTuningJobs",
            "ListTags",
            "DescribeEndpoint",
            "DescribeEndpointConfig",
            "DeleteEndpoint",
            "DeleteEndpointConfig",
            "DeleteModel",
            "StopTrainingJob",
            "StopHyperParameterTuningJob",
        ),
        "ec2": ("DescribeInstances", "TerminateInstances"),
        "lambda": ("ListFunctions", "ListTags", "DeleteFunction"),
        "iam": (
            "GetRole",
            "ListRolePolicies",
            "DeleteRolePolicy",
            "ListAttachedRolePolicies",
            "DetachRolePolicy",
            "DeleteRole",
        ),
    },
}
# The project roles each command creates or reads (Scope.roles kinds); the first four also pass theirs to the
# service that runs as it (iam:PassRole with iam:PassedToService).
ROLES: dict[str, tuple[str, ...]] = {
    "train": ("training",),
    "tune": ("training",),
    "deploy": ("endpoint",),
    "lambda deploy": ("lambda",),
    "train-ec2": ("ec2",),
    "teardown": ("lambda",),
}
PASSED_TO = {
    "training": "sagemaker.amazonaws.com",
    "endpoint": "sagemaker.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
    "ec2": "ec2.amazonaws.com",
}
PASSES = ("train", "tune", "deploy", "lambda deploy", "train-ec2")

# IAM names these differently from the API operation (Service Authorization Reference, "Actions" tables).
_ACTIONS = {
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    ("s3", "AbortMultipartUpload"): "AbortMultipartUpload",
    ("s3", "ListMultipartUploads"): "ListBucketMultipartUploads",
    ("s3", "ListParts"): "ListMultipartUploadParts",
    ("s3", "DeleteObjects"): "DeleteObject",
    ("lambda", "Invoke"): "InvokeFunction",
}
_PREFIXES = {"sagemaker-runtime": "sagemaker"}
_BUCKET_ACTIONS = {"ListBucket", "ListBucketMultipartUploads", "CreateBucket", "GetBucketLocation"}
# SageMaker resource types by the noun in the operation name, most specific first.
_SAGEMAKER_NOUNS = (
    ("HyperParameterTuningJob", "hyper-parameter-tuning-job"),
    ("TrainingJob", "training-job"),
    ("EndpointConfig", "endpoint-config"),
    ("Endpoint", "endpoint"),
    ("Model", "model"),
)


def iam_action(service: str, operation: str) -> str:
    """The IAM action that authorises one API operation (`s3`, `HeadObject` -> `s3:GetObject`)."""
    return f"{_PREFIXES.get(service, service)}:{_ACTIONS.get((service, operation), operation)}"


@dataclass(frozen=True)
class Scope:
    """Where the project's resources live: the ARN parts the policy narrows each action to."""

    partition: str
    region: str
    account: str
    project: str
    bucket: str
    prefix: str
    endpoint: str
    function: str
    tuning_prefix: str
    roles: dict[str, str]  # kind (training, endpoint, lambda, ec2) -> role name

    @classmethod
    def from_config(cls, config: Config, account: str, partition: str = "aws") -> Scope:
        from mlops_cli.services.tuning import default_name

        return cls(
            partition,
            config.aws.region,
            account,
            config.project,
            config.s3.bucket,
            config.s3.prefix.strip("/"),
            config.endpoint_name,
            config.function_name,
            default_name(config, now=0).rsplit("-", 1)[0],
            {
                "training": naming.sagemaker_role_name(config),
                "endpoint": naming.sagemaker_endpoint_role_name(config),
                "lambda": naming.lambda_role_name(config),
                "ec2": naming.ec2_role_name(config),
            },
        )

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        """An ARN in the project's account; IAM's are global (no region)."""
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{resource}"

    def role_arn(self, kind: str) -> str:
        return self.arn("iam", f"role/{self.roles[kind]}", region=False)


def resources(scope: Scope, service: str, operation: str, command: str) -> list[str]:
    """The ARNs one operation of a command may touch; `*` where the action has no resource-level scope."""
    action = iam_action(service, operation).split(":", 1)[1]
    if service == "s3":
        bucket = f"arn:{scope.partition}:s3:::{scope.bucket}"
        if action in _BUCKET_ACTIONS:
            return [bucket]
        return [f"{bucket}/{scope.prefix}/*" if scope.prefix else f"{bucket}/*"]
    if service in ("sagemaker", "sagemaker-runtime"):
        return _sagemaker_resources(scope, operation)
    if service == "iam":
        if command == "audit-iam":
            return ["*"]  # the audit reads every user, role and key of the account
        if "InstanceProfile" in operation:
            return [scope.arn("iam", f"instance-profile/{scope.roles['ec2']}", region=False)]
        return [scope.role_arn(kind) for kind in ROLES.get(command, ())]
    if service == "lambda":
        if operation in ("GetAccountSettings", "ListFunctions"):
            return ["*"]
        if operation == "ListTags":  # status and teardown find the project's functions by tag, whatever their name
            return [scope.arn("lambda", "function:*")]
        function = scope.arn("lambda", f"function:{scope.function}")
        return [function, f"{function}:*"]
    if service == "logs":  # the training jobs' logs, followed by train and tune
        return [scope.arn("logs", "log-group:/aws/sagemaker/TrainingJobs:*")]
    # Application Auto Scaling, EC2 launches and describes, STS and SSM's public AMI parameters: no project ARN
    # to narrow to before the resource exists.
    return ["*"]


def _sagemaker_resources(scope: Scope, operation: str) -> list[str]:
    # SageMaker lower-cases resource names in ARNs.
    names = {
        "hyper-parameter-tuning-job": [f"{scope.tuning_prefix}-*"],
        "training-job": [f"{scope.project}-*"],
        "endpoint-config": [f"{scope.project}-*"],
        "endpoint": [f"{scope.project}-*"]
        + ([] if scope.endpoint.startswith(f"{scope.project}-") else [scope.endpoint]),
        "model": [f"{scope.project}-*"],
    }
    if operation.startswith("List") and operation not in ("ListTags", "ListTrainingJobsForHyperParameterTuningJob"):
        return ["*"]
    if operation == "ListTags":  # ownership is read from the tags of resources whose names do not say it
        return [scope.arn("sagemaker", f"{kind}/*") for kind in names]
    kinds = [kind for noun, kind in _SAGEMAKER_NOUNS if noun in operation][:1] or list(names)
    if operation in ("CreateEndpoint", "UpdateEndpoint"):  # IAM checks the endpoint config they name too
        kinds.append("endpoint-config")
    return [scope.arn("sagemaker", f"{kind}/{name.lower()}") for kind in kinds for name in names[kind]]


def parse_commands(words: Iterable[str]) -> list[str]:
    """Command words as typed (`train lambda deploy`, or quoted `"lambda deploy"`) -> COMMANDS keys; none = all.
    An unknown command is a usage error naming the known ones."""
    tokens = [token for word in words for token in word.split()]
    chosen: list[str] = []
    while tokens:
        two = " ".join(tokens[:2])
        key = two if two in COMMANDS else tokens[0]
        if key not in COMMANDS:
            raise UsageError(
                f"no AWS permissions are known for '{tokens[0]}'; commands that call AWS: {', '.join(sorted(COMMANDS))}"
            )
        chosen.append(key)
        del tokens[: len(key.split())]
    return list(dict.fromkeys(chosen)) or sorted(COMMANDS)


def check_account(account: str) -> str:
    if not (len(account) == 12 and account.isdigit()):
        raise UsageError(f"--account {account}: an AWS account id is 12 digits")
    return account


def policy(scope: Scope, commands: Iterable[str]) -> dict[str, Any]:
    """The policy document: one statement per service and set of resources, then the role passes."""
    chosen = list(commands)
    grouped: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    for command in chosen:
        for service, operations in COMMANDS[command].items():
            for operation in operations:
                key = (_PREFIXES.get(service, service), tuple(resources(scope, service, operation, command)))
                grouped.setdefault(key, set()).add(iam_action(service, operation))
    everywhere = {action for (_, arns), actions in grouped.items() if arns == ("*",) for action in actions}
    statements: list[dict[str, Any]] = []
    sids = _Sids()
    for (prefix, arns), granted in sorted(grouped.items()):
        actions = granted if arns == ("*",) else granted - everywhere  # no narrower twin of a grant on `*`
        if not actions:
            continue
        statements.append(
            {
                "Sid": sids.next(prefix),
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": arns[0] if len(arns) == 1 else list(arns),
            }
        )
    passes: dict[str, set[str]] = {}
    for command in chosen:
        for kind in ROLES[command] if command in PASSES else ():
            passes.setdefault(PASSED_TO[kind], set()).add(scope.role_arn(kind))
    for service, roles in sorted(passes.items()):
        statements.append(
            {
                "Sid": sids.next(f"pass-role-to-{service.split('.')[0]}"),
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": sorted(roles),
                "Condition": {"StringEquals": {"iam:PassedToService": service}},
            }
        )
    return {"Version": VERSION, "Statement": statements}


class _Sids:
    """Statement ids from names (`application-autoscaling` -> `ApplicationAutoscaling`, then `...2`, `...3`)."""

    def __init__(self) -> None:
        self.used: dict[str, int] = {}

    def next(self, name: str) -> str:
        base = "".join(part[:1].upper() + part[1:] for part in name.split("-"))
        self.used[base] = self.used.get(base, 0) + 1
        return base if self.used[base] == 1 else f"{base}{self.used[base]}"
