"""The least-privilege IAM policy a person or CI role needs to run given `mlops` commands.

The AWS operations each command sends (as botocore names them) are derived from the command's own planning and
declarations (mlops_cli.usecases.permissions). Here they become IAM actions by IAM's naming (the service prefix
and the operation, except where IAM names them otherwise: S3's object and listing calls, Lambda's Invoke), and
resources are scoped to the project's ARNs (names from services/naming.py). The roles the project generates are
passed to the one service that runs as them (`iam:PassedToService`).

tests/strict/test_permissions.py runs the commands against the local AWS, records every call they make, and
checks each one against this policy with the audit's own policy engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.common.iam_checks import (
    ALARM_PREFIX,
    NO_PERMISSION_NEEDED,
    SAGEMAKER_SCALING_ROLE,
    SAGEMAKER_SCALING_SERVICE,
    TAGGING_ACTIONS,
    dependent_actions,
    unlisted,
)
from mlops_cli.errors import UsageError
from mlops_cli.services import naming
from mlops_cli.services.deploy.rollout import alarm_prefix
from mlops_cli.services.iam.policies import VERSION

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

# The project roles each command creates or reads (Scope.roles kinds); those in PASSES also pass theirs to the
# service that runs as it (iam:PassRole with iam:PassedToService).
ROLES: dict[str, tuple[str, ...]] = {
    "train": ("training",),
    "tune": ("training",),
    "deploy": ("endpoint",),
    "predict-batch": ("batch",),
    "lambda deploy": ("lambda",),
    "train-ec2": ("ec2",),
    "teardown": ("lambda",),
}
PASSED_TO = {
    "training": "sagemaker.amazonaws.com",
    "endpoint": "sagemaker.amazonaws.com",
    "batch": "sagemaker.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
    "ec2": "ec2.amazonaws.com",
}
PASSES = ("train", "tune", "deploy", "predict-batch", "lambda deploy", "train-ec2")

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
    ("TransformJob", "transform-job"),
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
    roles: dict[str, str]  # kind (training, endpoint, batch, lambda, ec2) -> role name

    @classmethod
    def from_config(cls, config: Config, account: str, partition: str = "aws") -> Scope:
        from mlops_cli.services.tuning.job import default_name

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
                "batch": naming.sagemaker_batch_role_name(config),
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
    if (service, operation) == ("cloudwatch", "DescribeAlarms"):  # reads alarms it is given by name, lists by prefix
        return ["*"]
    if service == "cloudwatch" and operation in ROLLOUT_ALARM_OPERATIONS:  # deploy --rollback-on's own alarms
        return [scope.arn("cloudwatch", f"alarm:{alarm_prefix(scope.project)}*")]
    if service == "cloudwatch":
        return _target_tracking_alarms(scope)
    if service == "logs":  # the training jobs' logs, followed by train and tune
        return [scope.arn("logs", "log-group:/aws/sagemaker/TrainingJobs:*")]
    # Application Auto Scaling, EC2 launches and describes, STS and SSM's public AMI parameters: no project ARN
    # to narrow to before the resource exists.
    return ["*"]


def _target_tracking_alarms(scope: Scope) -> list[str]:
    """The target-tracking alarms Application Auto Scaling makes (and deletes) as the caller."""
    alarms = ALARM_PREFIX.partition("{resource}")[0] + f"endpoint/{scope.endpoint}/*"
    return [scope.arn("cloudwatch", f"alarm:{alarms}")]


# The alarms `deploy --rollback-on` makes (named <project>-rollout-…, tagged on creation), and `teardown` finds by
# their tags and deletes.
ROLLOUT_ALARM_OPERATIONS = ("PutMetricAlarm", "TagResource", "ListTagsForResource", "DeleteAlarms")


def _sagemaker_resources(scope: Scope, operation: str) -> list[str]:
    # SageMaker lower-cases resource names in ARNs.
    names = {
        "hyper-parameter-tuning-job": [f"{scope.tuning_prefix}-*"],
        # A tuning job's trials are named after it (`<tuning job>-NNN-<hex>`), and `tune` cuts the project name to
        # fit SageMaker's 32 characters for tuning jobs (services/tuning/job.default_name).
        "training-job": list(dict.fromkeys([f"{scope.project}-*", f"{scope.tuning_prefix}-*"])),
        "transform-job": [f"{scope.project}-*"],
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
    if operation == "CreateTransformJob":  # and the model a transform job runs
        kinds.append("model")
    return [scope.arn("sagemaker", f"{kind}/{name.lower()}") for kind in kinds for name in names[kind]]


def on_behalf(service: str, operation: str) -> list[tuple[tuple[str, str], tuple[str, str] | None]]:
    """The (service, operation)s whose actions AWS also checks when the project sends `operation` (always with
    tags, always for a SageMaker variant), each with the condition that scopes the grant to this use: the
    reference's tag-on-create dependent actions (sagemaker:AddTags only as sagemaker:TaggingAction says) and the
    ones it does not list (mlops_cli.common.iam_checks). iam:PassRole is granted per role (policy below)."""
    found: list[tuple[tuple[str, str], tuple[str, str] | None]] = []
    for dependent in dependent_actions().get(iam_action(service, operation), ()):
        if dependent in TAGGING_ACTIONS:
            condition = ("sagemaker:TaggingAction", operation) if dependent == "sagemaker:AddTags" else None
            found.append((_operation_of(dependent), condition))
    for row in unlisted(service, operation):
        for action in row.actions:
            condition = ("iam:AWSServiceName", SAGEMAKER_SCALING_SERVICE) if row.resource == "scaling-role" else None
            found.append((_operation_of(action), condition))
    return found


def _operation_of(action: str) -> tuple[str, str]:
    prefix, _, name = action.partition(":")
    return prefix, name


def _implied_resources(scope: Scope, implied: tuple[str, str], service: str, operation: str, command: str) -> list[str]:
    """Where a check made on the caller's behalf is made: the created resource for tag-on-create, the
    service-linked role, else the implied action's own project resources."""
    if implied == ("iam", "CreateServiceLinkedRole"):
        return [scope.arn("iam", SAGEMAKER_SCALING_ROLE, region=False)]
    if implied[1] in ("AddTags", "TagResource", "CreateTags", "TagRole", "TagInstanceProfile"):
        return resources(scope, service, operation, command)
    if implied[0] == "cloudwatch":
        return _target_tracking_alarms(scope)
    return resources(scope, *implied, command)


def parse_commands(words: Iterable[str], known: Iterable[str]) -> list[str]:
    """Command words as typed (`train lambda deploy`, or quoted `"lambda deploy"`) -> `known` commands; none =
    all. An unknown command is a usage error naming the known ones."""
    commands = sorted(known)
    tokens = [token for word in words for token in word.split()]
    chosen: list[str] = []
    while tokens:
        two = " ".join(tokens[:2])
        key = two if two in commands else tokens[0]
        if key not in commands:
            raise UsageError(
                f"no AWS permissions are known for '{tokens[0]}'; commands that call AWS: {', '.join(commands)}"
            )
        chosen.append(key)
        del tokens[: len(key.split())]
    return list(dict.fromkeys(chosen)) or commands


def check_account(account: str) -> str:
    if not (len(account) == 12 and account.isdigit()):
        raise UsageError(f"--account {account}: an AWS account id is 12 digits")
    return account


def policy(scope: Scope, sent: Mapping[str, Iterable[tuple[str, str]]]) -> dict[str, Any]:
    """The policy document for the commands of `sent` (command -> the (service, operation)s it sends): one
    statement per service and set of resources, then the role passes."""
    chosen = list(sent)
    grouped: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    conditional: dict[tuple[str, tuple[str, ...], str], set[str]] = {}  # (action, ARNs, condition key) -> values
    for command, sends in sent.items():
        operations = set(sends)
        for service, operation in sorted(operations):
            for implied, condition in on_behalf(service, operation):
                if condition is None and implied[0] == "cloudwatch" and service != "cloudwatch":  # target tracking's
                    key = ("cloudwatch", tuple(_target_tracking_alarms(scope)))
                    grouped.setdefault(key, set()).add(iam_action(*implied))
                    continue
                if condition is None:
                    operations.add(implied)
                    continue
                where = tuple(_implied_resources(scope, implied, service, operation, command))
                conditional.setdefault((iam_action(*implied), where, condition[0]), set()).add(condition[1])
        for service, operation in sorted(operations):
            if iam_action(service, operation) in NO_PERMISSION_NEEDED:
                continue
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
    for (action, where, condition_key), values in sorted(conditional.items()):
        allowed = sorted(values) if len(values) > 1 else next(iter(values))
        statements.append(
            {
                "Sid": sids.next(action.replace(":", "-")),
                "Effect": "Allow",
                "Action": action,
                "Resource": where[0] if len(where) == 1 else list(where),
                "Condition": {"StringEquals": {condition_key: allowed}},
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
