"""`mlops deploy`: a SageMaker model, a new endpoint configuration, then CreateEndpoint or a blue/green UpdateEndpoint.

An update never deletes anything first: SageMaker starts the new fleet, shifts traffic once it is healthy and
only then retires the old one; if the new fleet fails, the endpoint returns to InService on the old
configuration with a FailureReason. Autoscaling is applied once the endpoint is InService. A variant that is
a scalable target cannot have its instance type changed (or be removed) by UpdateEndpoint, so such an update
deregisters the scaling first, updates with RetainAllVariantProperties, and re-applies the scaling after (or
restores it on the old variant when the update fails). A model-only update keeps the scaling in place.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_cli.aws import error_code
from mlops_cli.common.s3_uris import split_s3_uri
from mlops_cli.errors import OperationError, UsageError
from mlops_cli.plan import Plan, Poll, Retry, Step
from mlops_cli.plan.sends import sends, sends_via, sent_by
from mlops_cli.services import naming
from mlops_cli.services.deploy import autoscaling
from mlops_cli.services.deploy.autoscaling import ScalingSettings, ScalingState
from mlops_cli.services.deploy.endpoint_states import TRANSITIONAL, EndpointFailed
from mlops_cli.services.deploy.rollout import Rollout, alarm_steps, rollout_wait
from mlops_cli.services.iam.propagation import ROLE_PROPAGATION_S, sagemaker_cannot_assume
from mlops_cli.services.status import project_jobs

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

ClientFor = Callable[[str], Any]
StatusCallback = Callable[[str, float], None]

SUBMIT_DIRECTORY = "/opt/ml/model/code"
WAIT_TIMEOUT_S = 3600.0
# After UpdateEndpoint, a describe may briefly still show the old InService state before "Updating".
UPDATE_GRACE_S = 30.0
MAX_POLL_S = 15.0  # AWS takes minutes to create an endpoint
LOCAL_MAX_POLL_S = 1.0  # the local AWS takes seconds: a 15 s poll would add more than it saves


# ---------------------------------------------------------------------------------------------- the artifact


@dataclass
class Artifact:
    uri: str
    source: str  # how it was chosen, for the user: "--model", "job NAME", "latest completed job NAME"
    job: str | None = None


def object_location(uri: str, what: str = "--model") -> tuple[str, str]:
    """(bucket, key) of an `s3://bucket/key` URI that names one object."""
    from mlops_cli.config import aws_rules

    bucket, key = split_s3_uri(uri) if uri.startswith("s3://") else ("", "")
    if not bucket or not key or key.endswith("/"):
        raise UsageError(f"{what} must be an S3 object URI like s3://bucket/path/model.tar.gz, not '{uri}'")
    try:
        aws_rules.check_bucket_name(bucket)
    except ValueError as exc:
        raise UsageError(f"{what}: {exc}") from None
    problem = aws_rules.key_problem(key)
    if problem:
        raise UsageError(f"{what}: '{key}' is not a usable S3 key: {problem}")
    return bucket, key


@sends("s3", "HeadObject")
def _check_exists(s3: Any, uri: str, what: str) -> None:
    from botocore.exceptions import ClientError

    bucket, key = object_location(uri, what)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
            raise UsageError(f"{what} {uri} does not exist") from None
        raise


@sends("sagemaker", "DescribeTrainingJob")
def _job_artifact(sm: Any, job: str) -> str:
    from botocore.exceptions import ClientError

    try:
        described = sm.describe_training_job(TrainingJobName=job)
    except ClientError as exc:
        if error_code(exc) in ("ValidationException", "ResourceNotFound"):
            raise UsageError(f"training job '{job}' not found") from None
        raise
    status = described["TrainingJobStatus"]
    uri = (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if status != "Completed" or not uri:
        raise UsageError(f"training job '{job}' is {status}; only a Completed job's model can be deployed")
    return uri


@sends_via(_job_artifact, _check_exists, project_jobs)
def resolve_artifact(sm: Any, s3: Any, project: str, model_uri: str | None, job: str | None) -> Artifact:
    """--model URI (checked to exist), --job NAME, or the project's latest completed training job."""
    if model_uri and job:
        raise UsageError("give --model or --job, not both")
    if model_uri:
        object_location(model_uri)
        artifact = Artifact(model_uri, "--model")
    elif job:
        artifact = Artifact(_job_artifact(sm, job), f"job {job}", job)
    else:  # by name or by the project tag (a job named with --job-name, a trial of a tuning job)
        ours = project_jobs(sm, project, "TrainingJob", "Completed", limit=1)
        if not ours:
            raise UsageError(
                f"no completed training job of project '{project}' to deploy",
                hint="train one with `mlops train`, or pass --model s3://…/model.tar.gz",
            )
        latest = ours[0]["TrainingJobName"]
        artifact = Artifact(_job_artifact(sm, latest), f"latest completed job {latest}", latest)
    _check_exists(s3, artifact.uri, "model artifact" if not model_uri else "--model")
    return artifact


def assumed_artifact(config: Config, model_uri: str | None, job: str | None) -> Artifact:
    """Offline (nothing can be read): --model as given, else where `job` (or a latest job) would have put it."""
    if model_uri:
        return Artifact(model_uri, "--model (offline: not checked)")
    name = job or f"{config.project}-train-latest"
    return Artifact(f"{naming.output_uri(config)}/{name}/output/model.tar.gz", f"job {name} (offline: assumed)", name)


# ---------------------------------------------------------------------------------------- state and the plan


@dataclass
class DeployTarget:
    """What this deploy asks for."""

    endpoint: str
    variant: str
    instance_type: str
    instance_count: int
    image: str
    artifact: Artifact
    role_arn: str
    region: str
    scaling: ScalingSettings | None
    tags: list[dict[str, str]]
    model_name: str
    config_name: str
    serverless: dict[str, int] | None = None  # ServerlessConfig: a serverless endpoint instead of instances
    rollout: Rollout | None = None  # traffic shifting and rollback alarms for an update (services/deploy/rollout.py)
    project: str = ""

    @property
    def tag_map(self) -> dict[str, str]:
        return {tag["Key"]: tag["Value"] for tag in self.tags}


def unique_name(config: Config, kind: str) -> str:
    """A timestamped name plus a short random suffix: two deploys in one second must not collide."""
    return f"{naming.timestamped(config, kind)[:58]}-{secrets.token_hex(2)}"


def build_target(
    config: Config,
    artifact: Artifact,
    image: str,
    role_arn: str,
    scaling: ScalingSettings | None,
    rollout: Rollout | None = None,
) -> DeployTarget:
    endpoint = config.endpoint_name
    return DeployTarget(
        endpoint=endpoint,
        variant=config.deploy.variant_name,
        instance_type=config.deploy.instance_type,
        instance_count=config.deploy.instance_count,
        image=image,
        artifact=artifact,
        role_arn=role_arn,
        region=config.aws.region,
        scaling=scaling,
        tags=naming.tags(config, endpoint=endpoint),
        model_name=unique_name(config, "model"),
        config_name=unique_name(config, "config"),
        serverless=serverless_config(config),
        rollout=rollout,
        project=config.project,
    )


def serverless_config(config: Config) -> dict[str, int] | None:
    """The variant's ServerlessConfig when deploy.serverless.memory_mb is set."""
    serverless = config.deploy.serverless
    if serverless.memory_mb is None:
        return None
    return {"MemorySizeInMB": serverless.memory_mb, "MaxConcurrency": serverless.max_concurrency}


def production_variant(target: DeployTarget) -> dict[str, Any]:
    """The one variant of the new endpoint configuration: instances, or a serverless configuration."""
    variant: dict[str, Any] = {"VariantName": target.variant, "ModelName": target.model_name}
    if target.serverless is not None:
        variant["ServerlessConfig"] = dict(target.serverless)
    else:
        variant.update(
            InstanceType=target.instance_type, InitialInstanceCount=target.instance_count, InitialVariantWeight=1.0
        )
    return variant


@dataclass
class LiveEndpoint:
    """The endpoint as it is now: its description, its configuration and the scaling of our variant."""

    description: dict[str, Any]
    config: dict[str, Any]
    scaling: ScalingState

    @property
    def status(self) -> str:
        return self.description["EndpointStatus"]

    @property
    def config_name(self) -> str:
        return self.description["EndpointConfigName"]

    def variant(self, name: str) -> dict[str, Any] | None:
        return next((v for v in self.config.get("ProductionVariants", []) if v["VariantName"] == name), None)


@sends("sagemaker", "DescribeEndpoint", "DescribeEndpointConfig")
@sends_via(autoscaling.read_state)
def read_live(sm: Any, aas: Any, endpoint: str, variant: str) -> LiveEndpoint | None:
    from botocore.exceptions import ClientError

    try:
        description = sm.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:
        if error_code(exc) in ("ValidationException", "ResourceNotFound"):
            return None
        raise
    config = sm.describe_endpoint_config(EndpointConfigName=description["EndpointConfigName"])
    # The scaling that matters is on the variant serving now (the configured one, else the live one).
    names = [v["VariantName"] for v in config.get("ProductionVariants", [])]
    live_variant = variant if variant in names or not names else names[0]
    return LiveEndpoint(description, config, autoscaling.read_state(aas, endpoint, live_variant))


@dataclass
class DeployPlan:
    plan: Plan
    action: str  # "create" or "update"
    target: DeployTarget
    after_index: int  # plan.steps[after_index:] run once the endpoint is InService
    restore: list[Step] = field(default_factory=list)  # a failed update that deregistered scaling puts it back
    previous_config: str | None = None
    role_steps: int = 0  # leading steps that converge the generated endpoint role

    @property
    def rollout(self) -> list[Step]:
        return self.plan.steps[self.role_steps : self.after_index]

    @property
    def after(self) -> list[Step]:
        return self.plan.steps[self.after_index :]


def reapply_steps(state: ScalingState, variant: str, tags: dict[str, str]) -> list[Step]:
    """Re-create `state`'s scalable target and policies, as they were, on `variant`."""
    if state.target is None:
        return []
    resource = autoscaling.resource_id(state.endpoint, variant)
    steps = [
        Step(
            autoscaling.SERVICE,
            "RegisterScalableTarget",
            {
                "ServiceNamespace": autoscaling.NAMESPACE,
                "ResourceId": resource,
                "ScalableDimension": autoscaling.DIMENSION,
                "MinCapacity": state.target["MinCapacity"],
                "MaxCapacity": state.target["MaxCapacity"],
                "Tags": dict(tags),
            },
            note="re-register the scaling that was in place",
        )
    ]
    for policy in state.policies:
        params = {
            "PolicyName": policy["PolicyName"],
            "ServiceNamespace": autoscaling.NAMESPACE,
            "ResourceId": resource,
            "ScalableDimension": autoscaling.DIMENSION,
            "PolicyType": policy["PolicyType"],
        }
        for key in ("TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration"):
            if policy.get(key):
                params[key] = policy[key]
        steps.append(Step(autoscaling.SERVICE, "PutScalingPolicy", params, note="re-attach the policy"))
    return steps


def plan_deploy(
    target: DeployTarget,
    live: LiveEndpoint | None,
    role_steps: list[Step] | None = None,
    wait: bool = True,
    max_poll_s: float = MAX_POLL_S,
) -> DeployPlan:
    """The deploy's requests; `role_steps` (mlops_cli.services.iam.sagemaker_roles) come first when the project's
    generated endpoint role is used. With `wait`, the endpoint step waits until it serves the new configuration
    (the scaling steps after it need that), polling at most `max_poll_s` apart."""
    tag_map = target.tag_map
    in_service = (
        Poll(
            lambda client_for, report: wait_for_endpoint(
                client_for("sagemaker"),
                target.endpoint,
                target.config_name,
                lambda status, _s: report(status),
                max_poll_s=max_poll_s,
            ),
            f"endpoint {target.endpoint} InService on {target.config_name}",
            sends=sent_by(wait_for_endpoint),
        )
        if wait
        else None
    )
    steps = [
        *(role_steps or []),
        create_model_step(
            target.model_name, target.image, target.artifact, target.role_arn, target.region, target.tags, role_steps
        ),
        Step(
            "sagemaker",
            "CreateEndpointConfig",
            {
                "EndpointConfigName": target.config_name,
                "ProductionVariants": [production_variant(target)],
                "Tags": target.tags,
            },
        ),
    ]
    empty = ScalingState(target.endpoint, target.variant)
    after: list[Step] = []
    restore: list[Step] = []
    if live is None:
        action = "create"
        steps.append(
            Step(
                "sagemaker",
                "CreateEndpoint",
                {"EndpointName": target.endpoint, "EndpointConfigName": target.config_name, "Tags": target.tags},
                name="endpoint",
                wait=in_service,
            )
        )
        if target.scaling:
            after = autoscaling.apply_steps(empty, target.scaling, tag_map)
    else:
        action = "update"
        _check_updatable(target.endpoint, live)
        old_variant = live.variant(live.scaling.variant)
        scaled = live.scaling.target is not None
        update_params: dict[str, Any] = {
            "EndpointName": target.endpoint,
            "EndpointConfigName": target.config_name,
            "RetainAllVariantProperties": scaled,
        }
        note = "blue/green: the current fleet serves until the new one is InService"
        if target.rollout is not None:
            alarm_names = target.rollout.alarm_names(target.project, target.endpoint)
            update_params["DeploymentConfig"] = target.rollout.deployment_config(alarm_names)
            steps += alarm_steps(
                target.rollout, target.project, target.endpoint, target.variant, target.config_name, target.tags
            )
            note = f"blue/green, {target.rollout.strategy.spec}: traffic shifts step by step" + (
                ", rolled back if an alarm fires" if alarm_names else ""
            )
            if wait:
                in_service = rollout_wait(
                    target.rollout, target.endpoint, target.config_name, alarm_names, target.instance_count, max_poll_s
                )
        update = Step(
            "sagemaker",
            "UpdateEndpoint",
            update_params,
            note=note + ("; keeps the instance count the autoscaler set" if scaled else ""),
            name="endpoint",
            wait=in_service,
        )
        blocked = scaled and (
            old_variant is None
            or target.serverless is not None  # a serverless variant is never a scalable target
            or old_variant.get("InstanceType") != target.instance_type
            or live.scaling.variant != target.variant
        )
        if blocked:
            steps += [
                replace_note(
                    step,
                    "AWS refuses to change the instance type of a scalable variant: remove its scaling for the update",
                )
                for step in autoscaling.off_steps(live.scaling)
            ]
            steps.append(update)
            after = (
                autoscaling.apply_steps(empty, target.scaling, tag_map)
                if target.scaling
                else []
                if target.serverless is not None
                else reapply_steps(live.scaling, target.variant, tag_map)
            )
            restore = reapply_steps(live.scaling, live.scaling.variant, tag_map)
        else:
            steps.append(update)
            if target.scaling:
                after = autoscaling.apply_steps(live.scaling, target.scaling, tag_map)
    after = [
        replace_note(step, "after the endpoint is InService" + (f"; {step.note}" if step.note else ""))
        for step in after
    ]
    verb = "create" if action == "create" else "update (blue/green)"
    plan = Plan(f"deploy: {verb} endpoint {target.endpoint}", steps + after)
    return DeployPlan(
        plan, action, target, len(steps), restore, live.config_name if live else None, len(role_steps or [])
    )


def create_model_step(
    name: str,
    image: str,
    artifact: Artifact,
    role_arn: str,
    region: str,
    tags: list[dict[str, str]],
    role_steps: list[Step] | None,
) -> Step:
    """CreateModel for the PyTorch inference container with the handlers packed in model.tar.gz (endpoints and
    batch transform); retried while a role the same plan converged (`role_steps`) propagates."""
    return Step(
        "sagemaker",
        "CreateModel",
        {
            "ModelName": name,
            "PrimaryContainer": {
                "Image": image,
                "ModelDataUrl": artifact.uri,
                "Environment": {
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": SUBMIT_DIRECTORY,
                    "SAGEMAKER_REGION": region,
                },
            },
            "ExecutionRoleArn": role_arn,
            "Tags": tags,
        },
        note=f"model from {artifact.source}",
        # A role this plan converged may not be assumable yet (IAM propagation).
        retry=Retry(sagemaker_cannot_assume, ROLE_PROPAGATION_S, "the new IAM role is not assumable yet")
        if role_steps
        else None,
    )


def replace_note(step: Step, note: str) -> Step:
    return dataclasses.replace(step, note=note)


def _check_updatable(endpoint: str, live: LiveEndpoint) -> None:
    if live.status == "Failed":
        reason = live.description.get("FailureReason") or "no reason given"
        raise OperationError(
            f"endpoint '{endpoint}' failed earlier ({reason}) and serves nothing",
            hint=f"remove it with `mlops teardown --endpoint {endpoint}`, then deploy again",
        )
    if live.status != "InService":
        raise OperationError(
            f"endpoint '{endpoint}' is {live.status}; wait until it is InService, then deploy",
            hint="see `mlops status`",
        )


# ------------------------------------------------------------------------------------------------ execution


@sends("sagemaker", "DescribeEndpoint")
def wait_for_endpoint(
    sm: Any,
    endpoint: str,
    config_name: str,
    on_status: StatusCallback | None = None,
    timeout_s: float = WAIT_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    max_poll_s: float = MAX_POLL_S,
) -> dict[str, Any]:
    """Poll DescribeEndpoint until it serves `config_name` (returns the description) or the deploy failed."""
    start = clock()
    delay = 0.5
    seen_transition = False
    while True:
        described = sm.describe_endpoint(EndpointName=endpoint)
        status = described["EndpointStatus"]
        elapsed = clock() - start
        if on_status:
            on_status(status, elapsed)
        if status in TRANSITIONAL:
            seen_transition = True
        elif status == "Failed":
            raise EndpointFailed(described.get("FailureReason") or "no reason given", described)
        elif status == "InService":
            if described["EndpointConfigName"] == config_name:
                return described
            if seen_transition or elapsed > UPDATE_GRACE_S:  # back on the old configuration: the update failed
                raise EndpointFailed(described.get("FailureReason") or "the update did not complete", described)
        if elapsed > timeout_s:
            raise OperationError(
                f"endpoint '{endpoint}' is still {status} after {timeout_s:.0f} s; it keeps going in AWS",
                hint="watch it with `mlops status`",
            )
        sleep(delay)
        delay = min(delay * 1.5, max_poll_s)


def undo_steps(deploy: DeployPlan, failed_at: int, refused: Exception) -> list[Step] | None:
    """When AWS refused a rollout request itself (so it did nothing), the deletes of the model and endpoint config
    this deploy created before it. None when the failure is elsewhere (the role, a wait, the scaling after
    InService): nothing is undone then. The converged role stays: running the deploy again uses it."""
    plan = deploy.plan
    failed = plan.steps[failed_at] if failed_at < len(plan.steps) else None
    if (
        failed is None
        or not deploy.role_steps <= failed_at < deploy.after_index
        or getattr(refused, "operation_name", "") != failed.operation
    ):
        return None
    made = {step.operation for step in plan.steps[deploy.role_steps : failed_at]}
    undo = []
    if "CreateEndpointConfig" in made:
        undo.append(Step("sagemaker", "DeleteEndpointConfig", {"EndpointConfigName": deploy.target.config_name}))
    if "CreateModel" in made:
        undo.append(Step("sagemaker", "DeleteModel", {"ModelName": deploy.target.model_name}))
    return undo


def descaled_before(deploy: DeployPlan, failed_at: int) -> bool:
    """Whether the steps sent before the one at `failed_at` removed the variant's scaling."""
    return any(step.service == autoscaling.SERVICE for step in deploy.plan.steps[deploy.role_steps : failed_at])


def failure_message(deploy: DeployPlan, failure: EndpointFailed, restored: str) -> str:
    target = deploy.target
    if deploy.action == "create":
        return f"endpoint '{target.endpoint}' failed to create: {failure}"
    serving = failure.description.get("EndpointConfigName") or deploy.previous_config
    return (
        f"update of endpoint '{target.endpoint}' to {target.config_name} failed: {failure}; "
        f"the previous configuration {serving} keeps serving{restored}"
    )


def result(
    deploy: DeployPlan, described: dict[str, Any], scaling: ScalingState | None, scaling_changed: bool
) -> dict[str, Any]:
    target = deploy.target
    variants = described.get("ProductionVariants") or []
    current: dict[str, Any] = next((v for v in variants if v.get("VariantName") == target.variant), {})
    return {
        "endpoint": target.endpoint,
        "action": deploy.action,
        "status": described["EndpointStatus"],
        "endpoint_config": target.config_name,
        "previous_endpoint_config": deploy.previous_config,
        "model": target.model_name,
        "model_data": target.artifact.uri,
        "artifact_source": target.artifact.source,
        "image": target.image,
        "variant": target.variant,
        "instance_type": target.instance_type,
        "instance_count": current.get("CurrentInstanceCount", target.instance_count),
        "serverless": target.serverless,
        "scaling": scaling.to_dict() if scaling and scaling.target else None,
        "scaling_changed": scaling_changed,
        "rollout": target.rollout.to_dict(target.project, target.endpoint)
        if target.rollout is not None and deploy.action == "update"
        else None,
    }
