"""What a request asks IAM for: the action (by IAM's name), the resources (ARNs filled from the Service
Authorization Reference's formats with the request's own members), the context keys (tags, s3:prefix, the
caller), then the actions AWS checks on the caller's behalf: the reference's dependent actions that the request
triggers (tag-on-create when it carries tags, iam:PassRole for each role it passes) and the few it does not list
(mlops_cli.common.iam_checks)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from mlops_cli.common.iam_checks import (
    ALARM_PREFIX,
    SAGEMAKER_SCALING_ROLE,
    SAGEMAKER_SCALING_SERVICE,
    TAGGING_ACTIONS,
    Unlisted,
    unlisted,
)
from mlops_cli.local.iam import reference
from mlops_cli.local.iam.evaluate import Check

_VARIABLE = re.compile(r"\$\{([^}]+)\}")
# Request members that fill an ARN format's variable when the variable's own name is not a member.
_MEMBERS = {
    "BucketName": ("Bucket",),
    "ObjectName": ("Key", "Delete.Objects.Key"),
    "RoleNameWithPath": ("RoleName",),
    "InstanceProfileNameWithPath": ("InstanceProfileName",),
    "UserNameWithPath": ("UserName",),
    "InstanceId": ("InstanceIds",),
    "Alias": ("Qualifier",),  # Lambda's `function alias` and `function version` resource types
    "Version": ("Qualifier",),
    "AlarmName": ("AlarmNames",),  # DescribeAlarms and DeleteAlarms name several: each alarm is checked
}
_SCALABLE_TARGET = "arn:${Partition}:application-autoscaling:${Region}:${Account}:scalable-target/${ResourceId}"
_ARN_MEMBERS = ("ResourceArn", "ResourceARN", "Resource")  # tagging calls name the resource by its ARN
_ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:role/")
# Services whose calls name roles without passing them to a service (they are the roles' own API, or assume them).
_NOT_PASSING = ("iam", "sts")


def _values(params: Any, path: str) -> list[str]:
    """The strings at a dotted member path, through lists."""
    found = [params]
    for name in path.split("."):
        found = [item for value in found for item in (value if isinstance(value, list) else [value])]
        found = [value.get(name) for value in found if isinstance(value, dict) and value.get(name) is not None]
    flat = [item for value in found for item in (value if isinstance(value, list) else [value])]
    return [str(value) for value in flat if isinstance(value, (str, int))]


def _lambda_function(params: Mapping[str, Any], qualified: bool) -> list[str]:
    """A Lambda function named by name, partial or full ARN: `name`, or `name:qualifier` when `qualified` (the ARN
    format has no qualifier of its own) and the request names one."""
    name = str(params.get("FunctionName") or "")
    if not name:
        return []
    name = name.split(":function:", 1)[1] if ":function:" in name else name
    qualifier = params.get("Qualifier")
    if not qualified:
        return [name.split(":", 1)[0]]
    return [f"{name}:{qualifier}" if qualifier and ":" not in name else name]


def _fill(arn_format: str, params: Mapping[str, Any], region: str, account: str) -> list[str]:
    """Every ARN the format gives with the request's members; none when a variable has no member."""
    choices: list[list[str]] = []
    for variable in _VARIABLE.findall(arn_format):
        fixed = {"Partition": "aws", "Region": region, "Account": account}.get(variable)
        if fixed is not None:
            choices.append([fixed])
            continue
        if (arn_format, variable) == (_SCALABLE_TARGET, "ResourceId"):  # an id AWS makes, not the request's ResourceId
            return []
        if variable == "FunctionName":
            values = _lambda_function(params, qualified="${Alias}" not in arn_format and "${Version}" not in arn_format)
        else:
            # Members are named as the variable, camelCase in some APIs (CloudWatch Logs' logGroupName), or aliased.
            names = (variable, variable[:1].lower() + variable[1:], *_MEMBERS.get(variable, ()))
            values = next((found for path in names if (found := _values(params, path))), [])
        if not values:
            return []
        choices.append(values)
    arns = []
    for picked in itertools.product(*choices):
        filled = iter(picked)
        arns.append(_VARIABLE.sub(lambda _match: next(filled), arn_format))  # noqa: B023 (used at once, in the loop)
    return arns


def resources(action: str, params: Mapping[str, Any], region: str, account: str) -> list[str]:
    """The ARNs `action` is authorized on for this request; `*` when the action has no resource types or the
    request names none of them (as AWS does for a resource that does not exist yet and has no name)."""
    if action == "sts:AssumeRole" and isinstance(params.get("RoleArn"), str):  # the role is the resource
        return [params["RoleArn"]]
    for member in _ARN_MEMBERS:
        value = params.get(member)
        if isinstance(value, str) and value.startswith("arn:"):
            return [value]
    found: list[str] = []
    for resource_type in reference.resource_types(action):
        found += _fill(resource_type.arn, params, region, account)
        if resource_type.name == "log-group":  # CloudWatch Logs authorizes a group as `...:log-group:NAME:*`
            found = [arn if arn.endswith(":*") else f"{arn}:*" for arn in found]
    if action.startswith("sagemaker:"):  # SageMaker lower-cases names in its ARNs
        found = [_lower_resource(arn) for arn in found]
    return list(dict.fromkeys(found)) or ["*"]


def _lower_resource(arn: str) -> str:
    parts = arn.split(":", 5)
    return ":".join([*parts[:5], parts[5].lower()]) if len(parts) == 6 else arn


def _tags(service: str, params: Mapping[str, Any]) -> dict[str, str]:
    raw: Any = params.get("Tags")
    if service == "ec2":
        raw = [tag for spec in params.get("TagSpecifications") or [] for tag in spec.get("Tags") or []]
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    return {str(t.get("Key")): str(t.get("Value", "")) for t in raw or [] if isinstance(t, dict)}


def _context(caller_arn: str, region: str, account: str, tags: Mapping[str, str], params: Mapping[str, Any]) -> dict:
    context: dict[str, list[str]] = {
        "aws:principalarn": [caller_arn],
        "aws:principalaccount": [account],
        "aws:requestedregion": [region],
        "aws:securetransport": ["false"],
    }
    if ":user/" in caller_arn:
        context["aws:username"] = [caller_arn.rsplit("/", 1)[1]]
    if tags:
        context["aws:tagkeys"] = list(tags)
        context.update({f"aws:requesttag/{key}".lower(): [value] for key, value in tags.items()})
    if isinstance(params.get("Prefix"), str):
        context["s3:prefix"] = [params["Prefix"]]
    return context


def checks(
    service: str, operation: str, params: Mapping[str, Any], region: str, account: str, caller_arn: str
) -> list[Check]:
    """Every authorization AWS makes for one call, the call's own action first."""
    action = reference.action_for(service, operation)
    targets = resources(action, params, region, account)
    tags = _tags(service, params)
    context = _context(caller_arn, region, account, tags, params)
    found = [Check(action, arn, context) for arn in targets]
    prefix = action.partition(":")[0]
    if service == "s3" and isinstance(params.get("CopySource"), str):
        found.append(_copy_source(params["CopySource"], context))
    for dependent in reference.dependent_actions(action):
        if dependent in TAGGING_ACTIONS and tags:
            extra = {f"{prefix}:taggingaction": [operation]} if prefix == "sagemaker" else {}
            extra |= {"ec2:createaction": [operation]} if prefix == "ec2" else {}
            found.append(Check(dependent, targets[0], {**context, **extra}))
    if service not in _NOT_PASSING:
        passed = {f"{prefix}.amazonaws.com"}
        for role in dict.fromkeys(v for v in _strings(params) if _ROLE_ARN.match(v)):
            found.append(Check("iam:PassRole", role, {**context, "iam:passedtoservice": sorted(passed)}))
    for row in unlisted(service, operation):
        if _triggered(row, params, tags):
            found += [
                Check(a, arn, context | _row_context(row))
                for a in row.actions
                for arn in _row(row, params, targets, region, account)
            ]
    return found


def _copy_source(source: str, context: dict[str, list[str]]) -> Check:
    """CopyObject and UploadPartCopy read their source as the caller: s3:GetObject (s3:GetObjectVersion for a
    version) on it (S3 API Reference, CopyObject, "Permissions")."""
    path, _, version = unquote(source).lstrip("/").partition("?versionId=")
    return Check("s3:GetObjectVersion" if version else "s3:GetObject", f"arn:aws:s3:::{path}", context)


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _triggered(row: Unlisted, params: Mapping[str, Any], tags: Mapping[str, str]) -> bool:
    if row.when == "tags":
        return bool(tags)
    sagemaker = params.get("ServiceNamespace") == "sagemaker"
    if row.when == "target-tracking":
        return sagemaker and params.get("PolicyType") == "TargetTrackingScaling"
    return sagemaker


def _row_context(row: Unlisted) -> dict[str, list[str]]:
    return {"iam:awsservicename": [SAGEMAKER_SCALING_SERVICE]} if row.resource == "scaling-role" else {}


def _row(row: Unlisted, params: Mapping[str, Any], targets: list[str], region: str, account: str) -> list[str]:
    """The ARNs one unlisted check is made on."""
    resource_id = str(params.get("ResourceId") or "")
    endpoint = resource_id.split("/")[1] if resource_id.startswith("endpoint/") else ""
    sagemaker = f"arn:aws:sagemaker:{region}:{account}"
    if row.resource == "created":
        return targets[:1]
    if row.resource == "endpoint":
        return [f"{sagemaker}:endpoint/{endpoint.lower()}"]
    if row.resource == "endpoint-config":
        from mlops_cli.local.moto_compat.records import sagemaker as records

        found = records.endpoint(account, region, endpoint)
        config = getattr(found, "endpoint_config_name", None)
        return [f"{sagemaker}:endpoint-config/{config.lower()}"] if config else []
    if row.resource == "scaling-role":
        return [f"arn:aws:iam::{account}:{SAGEMAKER_SCALING_ROLE}"]
    return [f"arn:aws:cloudwatch:{region}:{account}:alarm:{ALARM_PREFIX.format(resource=resource_id)}*"]
