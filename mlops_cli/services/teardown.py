"""`mlops teardown`: stop what costs money (endpoints, running training) and delete what it leaves behind.

Per endpoint: its scaling policies and scalable targets, the endpoint, its endpoint configurations (the live
one and every one deploy made for it, tagged `mlops:endpoint`) and their models. `--all` takes every endpoint,
configuration, model and scalable target of the project (project tag or `<project>-` name prefix), including
orphans of failed deploys, and stops its running tuning jobs, SageMaker training jobs and terminates its train-ec2
instances. Lambda functions and the Lambda role only when asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import UsageError
from mlops_cli.plan import Answers, Plan, Step, sends, sends_via
from mlops_cli.services.deploy import autoscaling
from mlops_cli.services.deploy.autoscaling import ScalingState
from mlops_cli.services.naming import lambda_role_name
from mlops_cli.services.status import (
    is_project_resource,
    project_endpoints,
    project_functions,
    project_training_jobs,
    project_tuning_jobs,
)

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

ClientFor = Callable[[str], Any]
ENDPOINT_TAG = "mlops:endpoint"
MAX_ALARMS_PER_DELETE = 100  # DeleteAlarms' AlarmNames
OUTCOMES = {
    "StopHyperParameterTuningJob": "stopped",
    "StopTrainingJob": "stopped",
    "TerminateInstances": "terminated",
}  # else "deleted"
# Codes of a resource that is gone already (or a job that ended meanwhile), when the message says so too.
GONE_CODES = (
    "ResourceNotFoundException",
    "ValidationException",
    "ValidationError",
    "NoSuchEntity",
    "InvalidInstanceID.NotFound",
)


@dataclass
class LambdaRole:
    name: str
    inline_policies: list[str]
    attached_policies: list[str]  # ARNs


@dataclass
class Inventory:
    tuning_jobs: list[str] = field(default_factory=list)  # InProgress tuning jobs (stopping one stops its trials)
    training_jobs: list[str] = field(default_factory=list)  # InProgress SageMaker jobs
    training_instances: list[str] = field(default_factory=list)  # train-ec2 instance ids
    endpoints: list[str] = field(default_factory=list)
    scaling: list[ScalingState] = field(default_factory=list)
    endpoint_configs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    roles: list[LambdaRole] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)  # the rollback alarms `deploy --rollback-on` made

    @property
    def empty(self) -> bool:
        return not any(self.to_dict().values())

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "tuning_jobs": self.tuning_jobs,
            "training_jobs": self.training_jobs,
            "training_instances": self.training_instances,
            "endpoints": self.endpoints,
            "scalable_targets": [s.resource_id for s in self.scaling],
            "endpoint_configs": self.endpoint_configs,
            "models": self.models,
            "functions": self.functions,
            "roles": [role.name for role in self.roles],
            "alarms": self.alarms,
        }


@sends("sagemaker", "ListTags")
def _tag_map(sm: Any, arn: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in sm.list_tags(ResourceArn=arn).get("Tags", [])}


def _listed(sm: Any, operation: str, key: str) -> list[dict[str, Any]]:
    return [item for page in sm.get_paginator(operation).paginate() for item in page[key]]


@sends("sagemaker", "ListEndpointConfigs", "ListModels")
@sends_via(_tag_map)
def _chosen(sm: Any, kind: str, linked: set[str], wanted: set[str], everything: bool, project: str) -> list[str]:
    """Names of the endpoint configurations or models (`kind`: "EndpointConfig" | "Model") to delete: those the
    wanted endpoints use, those deploy tagged for them, and with --all every one of the project."""
    operation = {"EndpointConfig": "list_endpoint_configs", "Model": "list_models"}[kind]
    chosen = []
    for summary in _listed(sm, operation, f"{kind}s"):
        name = summary[f"{kind}Name"]
        tags = _tag_map(sm, summary[f"{kind}Arn"])
        if (
            name in linked
            or tags.get(ENDPOINT_TAG) in wanted
            or (everything and is_project_resource(name, tags, project))
        ):
            chosen.append(name)
    return chosen


@sends("iam", "GetRole", "ListRolePolicies", "ListAttachedRolePolicies")
def _lambda_role(iam: Any, config: Config) -> list[LambdaRole]:
    """The role `mlops lambda deploy` made for the project's functions, with what must go before it can."""
    name = lambda_role_name(config)
    try:
        iam.get_role(RoleName=name)
    except iam.exceptions.NoSuchEntityException:
        return []
    inline = [
        policy
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=name)
        for policy in page["PolicyNames"]
    ]
    attached = [
        policy["PolicyArn"]
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name)
        for policy in page["AttachedPolicies"]
    ]
    return [LambdaRole(name, inline, attached)]


@sends("cloudwatch", "DescribeAlarms")
@sends("cloudwatch", "ListTagsForResource")
def own_alarms(cw: Any, project: str, endpoints: set[str] | None) -> list[str]:
    """Every rollback alarm `deploy --rollback-on` made for the project (all of them, or those of `endpoints`),
    over every rollout, the endpoint deleted or not: named with the project's rollout prefix and carrying its
    tags (put on creation). An existing alarm a rollout was only given by name carries no such tag: not ours."""
    from mlops_cli.services.deploy.rollout import alarm_prefix
    from mlops_cli.services.naming import PROJECT_TAG

    found = []
    pages = cw.get_paginator("describe_alarms").paginate(
        AlarmNamePrefix=alarm_prefix(project), AlarmTypes=["MetricAlarm"]
    )
    for alarm in (alarm for page in pages for alarm in page["MetricAlarms"]):
        tags = {tag["Key"]: tag["Value"] for tag in cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]}
        if tags.get(PROJECT_TAG) == project and (endpoints is None or tags.get(ENDPOINT_TAG) in endpoints):
            found.append(alarm["AlarmName"])
    return found


# What find reads of each endpoint, configuration and scalable target it finds (an empty account shows none).
@sends("sagemaker", "ListEndpoints", "DescribeEndpoint", "DescribeEndpointConfig")
@sends_via(_tag_map, _chosen, autoscaling.read_state, _lambda_role)
@sends_via(project_endpoints, project_functions, project_training_jobs, project_tuning_jobs, own_alarms)
def find(client_for: ClientFor, config: Config, endpoint: str | None, everything: bool, functions: bool) -> Inventory:
    """What teardown would delete: `endpoint` (default: the configured one), or the whole project."""
    from botocore.exceptions import ClientError

    sm = client_for("sagemaker")
    inventory = Inventory()
    if everything:
        inventory.endpoints = [e["EndpointName"] for e in project_endpoints(sm, config)]
    else:
        name = endpoint or config.endpoint_name
        summary = next((e for e in _listed(sm, "list_endpoints", "Endpoints") if e["EndpointName"] == name), None)
        if summary and not is_project_resource(
            name, _tag_map(sm, summary["EndpointArn"]), config.project, [config.endpoint_name]
        ):
            raise UsageError(
                f"endpoint '{name}' does not belong to project '{config.project}' (no project tag, "
                "no project name prefix); not deleting it"
            )
        inventory.endpoints = [name] if summary else []
    wanted = set(inventory.endpoints) if everything else {endpoint or config.endpoint_name}

    live_configs = set()
    for name in inventory.endpoints:
        try:
            described = sm.describe_endpoint(EndpointName=name)
        except ClientError:  # deleted meanwhile
            continue
        live_configs.add(described["EndpointConfigName"])
    inventory.alarms = own_alarms(client_for("cloudwatch"), config.project, None if everything else wanted)
    inventory.endpoint_configs = _chosen(sm, "EndpointConfig", live_configs, wanted, everything, config.project)

    config_models: set[str] = set()
    for name in inventory.endpoint_configs:
        described = sm.describe_endpoint_config(EndpointConfigName=name)
        config_models.update(v["ModelName"] for v in described.get("ProductionVariants", []))
    inventory.models = _chosen(sm, "Model", config_models, wanted, everything, config.project)

    aas = client_for(autoscaling.SERVICE)
    targets = [
        t
        for page in aas.get_paginator("describe_scalable_targets").paginate(ServiceNamespace=autoscaling.NAMESPACE)
        for t in page["ScalableTargets"]
    ]
    for target in targets:
        parts = target["ResourceId"].split("/")  # endpoint/<name>/variant/<variant>
        if len(parts) != 4 or parts[0] != "endpoint":
            continue
        if parts[1] in wanted or (
            everything and is_project_resource(parts[1], {}, config.project, [config.endpoint_name])
        ):
            inventory.scaling.append(autoscaling.read_state(aas, parts[1], parts[3]))

    if everything:
        from mlops_cli.services.ec2.follow import live_instances

        inventory.tuning_jobs = [
            job["HyperParameterTuningJobName"] for job in project_tuning_jobs(sm, config, "InProgress")
        ]
        # A tuning job's trials (`<tuning job>-NNN-xxxxxxxx`) stop with it.
        inventory.training_jobs = [
            job["TrainingJobName"]
            for job in project_training_jobs(sm, config, "InProgress")
            if not any(job["TrainingJobName"].startswith(f"{tuning}-") for tuning in inventory.tuning_jobs)
        ]
        inventory.training_instances = [i["instance_id"] for i in live_instances(client_for("ec2"), config)]
    if functions:
        inventory.functions = [f["FunctionName"] for f in project_functions(client_for("lambda"), config)]
        inventory.roles = _lambda_role(client_for("iam"), config)
    return inventory


def plan_teardown(inventory: Inventory) -> Plan:
    plan = Plan("teardown")
    for name in inventory.tuning_jobs:
        plan.add(
            "sagemaker",
            "StopHyperParameterTuningJob",
            {"HyperParameterTuningJobName": name},
            note="stops its running trials; ends as Stopped",
        )
    for name in inventory.training_jobs:
        plan.add("sagemaker", "StopTrainingJob", {"TrainingJobName": name}, note="ends as Stopped, keeping checkpoints")
    for instance_id in inventory.training_instances:
        plan.add("ec2", "TerminateInstances", {"InstanceIds": [instance_id]}, note="ends its train-ec2 job")
    for state in inventory.scaling:
        plan.steps += autoscaling.off_steps(state)
    for name in inventory.endpoints:
        plan.add("sagemaker", "DeleteEndpoint", {"EndpointName": name}, note="stops the instances (and the bill)")
    for name in inventory.endpoint_configs:
        plan.add("sagemaker", "DeleteEndpointConfig", {"EndpointConfigName": name})
    for start in range(0, len(inventory.alarms), MAX_ALARMS_PER_DELETE):
        names = inventory.alarms[start : start + MAX_ALARMS_PER_DELETE]
        plan.add("cloudwatch", "DeleteAlarms", {"AlarmNames": names}, note="the rollouts' rollback alarms")
    for name in inventory.models:
        plan.add("sagemaker", "DeleteModel", {"ModelName": name})
    for name in inventory.functions:
        plan.add("lambda", "DeleteFunction", {"FunctionName": name}, note="with its versions and aliases")
    for role in inventory.roles:
        for policy in role.inline_policies:
            plan.add("iam", "DeleteRolePolicy", {"RoleName": role.name, "PolicyName": policy})
        for arn in role.attached_policies:
            plan.add("iam", "DetachRolePolicy", {"RoleName": role.name, "PolicyArn": arn})
        plan.add("iam", "DeleteRole", {"RoleName": role.name}, note="the functions' execution role")
    for step in plan.steps:
        step.ok_on = gone
    return plan


def gone(exc: BaseException) -> bool:
    """AWS's answer for a resource already gone (or a job that ended meanwhile)."""
    from mlops_cli.aws import error_code, error_message

    return error_code(exc) in GONE_CODES and _looks_missing(error_message(exc))


def outcomes(plan: Plan, answers: Answers) -> list[dict[str, Any]]:
    """One row per step: what happened to its resource (a resource already gone counts as deleted)."""
    return [
        {
            "operation": step.operation,
            "resource": _resource(step),
            "outcome": "already gone" if answer is None else OUTCOMES.get(step.operation, "deleted"),
        }
        for step, answer in zip(plan.steps, answers.ordered, strict=True)
    ]


def _looks_missing(message: str) -> bool:
    lowered = message.lower()
    return any(
        words in lowered
        for words in (
            "could not find",
            "not found",
            "does not exist",
            "no scalable target",
            "no scaling policy",
            "cannot be found",
            "in status completed",
            "in status failed",
            "in status stopped",
        )
    )


def _resource(step: Step) -> str:
    for key in (
        "HyperParameterTuningJobName",
        "TrainingJobName",
        "EndpointName",
        "EndpointConfigName",
        "ModelName",
        "FunctionName",
    ):
        if key in step.params:
            return step.params[key]
    for key in ("InstanceIds", "AlarmNames"):
        if key in step.params:
            return ", ".join(step.params[key])
    if "RoleName" in step.params:
        detail = step.params.get("PolicyName") or step.params.get("PolicyArn")
        return f"{step.params['RoleName']} ({detail})" if detail else step.params["RoleName"]
    resource = step.params.get("ResourceId", "")
    return f"{resource} ({step.params['PolicyName']})" if "PolicyName" in step.params else resource
