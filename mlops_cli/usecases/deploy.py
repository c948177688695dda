"""`mlops deploy`: the model to serve, the endpoint as it is, and the plan from one to the other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import OperationError, UsageError
from mlops_cli.plan.sends import sends, sends_via
from mlops_cli.services.deploy import autoscaling

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan.executor import Answers, Executor
    from mlops_cli.plan.planned import Planned
    from mlops_cli.plan.steps import ClientFor, Plan
    from mlops_cli.services.deploy.autoscaling import ScalingSettings
    from mlops_cli.services.deploy.endpoint import Artifact, DeployPlan, DeployTarget, LiveEndpoint

SERVERLESS_KEYS = {"memory": "memory_mb", "concurrency": "max_concurrency"}  # --serverless key -> config key


@dataclass(frozen=True)
class DeployRequest:
    """What the flags ask for (the endpoint name, instance type and count arrive through the config)."""

    model: str | None = None
    job: str | None = None
    tuning_job: str | None = None
    autoscale: str | None = None  # "max=2[,min=1,...]"
    wait: bool = True
    max_cost: float | None = None
    instance_flags: bool = False  # --instance-type or --instance-count given


def serverless_overrides(spec: str) -> dict[str, int]:
    """`--serverless memory=2048[,concurrency=5]` -> deploy.serverless.* config overrides (values checked by the
    config schema)."""
    expected = ", ".join(SERVERLESS_KEYS)
    found: dict[str, int] = {}
    for item in spec.split(","):
        key, equals, value = (part.strip() for part in item.partition("="))
        if key not in SERVERLESS_KEYS or not equals:
            raise UsageError(f"--serverless: '{item.strip()}' is not key=value with a key of: {expected}")
        if SERVERLESS_KEYS[key] in found:
            raise UsageError(f"--serverless: '{key}' is given twice")
        if not value.isdigit() or len(value) > 6:
            raise UsageError(f"--serverless {key} must be a whole number, got '{value}'")
        found[SERVERLESS_KEYS[key]] = int(value)
    if "memory_mb" not in found:
        raise UsageError("--serverless needs memory=MB (1024 to 6144 in steps of 1024), e.g. memory=2048")
    return {f"deploy.serverless.{key}": value for key, value in found.items()}


# Around the plan: the result is read (DescribeEndpoint without --wait, the scaling with it); a rollout AWS refused
# deletes the model and endpoint config it made; scaling removed for a failed update is put back.
@sends("sagemaker", "DescribeEndpoint", "DeleteEndpointConfig", "DeleteModel")
@sends("application-autoscaling", "RegisterScalableTarget", "PutScalingPolicy")
@sends_via(autoscaling.read_state)
def planned_deploy(
    config: Config,
    clients: AwsClients,
    request: DeployRequest,
    assume_live: Callable[[DeployTarget], LiveEndpoint | None] | None = None,
) -> Planned:
    """Check the request (exit 2 before any AWS call), find the artifact, read the live endpoint, plan.
    `assume_live` stands for the endpoint as it is instead of reading it (`config permissions` plans the update
    an empty account never shows)."""
    from mlops_cli.services import images, naming
    from mlops_cli.services.cost import summary as cost_summary
    from mlops_cli.services.deploy import endpoint as service
    from mlops_cli.services.deploy.rollout import Rollout, check_named_alarms
    from mlops_cli.services.iam import sagemaker_roles

    scaling = _check(config, request)
    rollout = Rollout.from_config(config, clients.is_local)
    if rollout is not None:  # the flags' errors before any AWS read (the artifact, the live endpoint)
        rollout.check(config.deploy.instance_count)
    sagemaker = config.train.sagemaker
    serverless = config.deploy.serverless.memory_mb is not None
    image = images.image_uri(
        config.aws.region,
        sagemaker.framework_version,
        sagemaker.py_version,
        images.CPU_INSTANCE_TYPE if serverless else config.deploy.instance_type,  # serverless runs on CPUs only
        "inference",
    )
    artifact = model_artifact(config, clients, request.model, request.job, request.tuning_job)
    role_arn = naming.endpoint_role_arn(config, lambda: clients.account_id, clients.partition)
    role_steps = (
        []
        if sagemaker.role_arn
        else sagemaker_roles.role_steps(
            sagemaker_roles.endpoint_role(), config, account_id=clients.account_id, partition=clients.partition
        )
    )
    target = service.build_target(config, artifact, image, role_arn, scaling, rollout)
    live = (
        assume_live(target)
        if assume_live is not None
        else service.read_live(
            clients.client("sagemaker"), clients.client(autoscaling.SERVICE), target.endpoint, target.variant
        )
    )
    if rollout is not None and live is not None and assume_live is None and not clients.offline:
        check_named_alarms(clients.client("cloudwatch"), rollout, config.project)
    max_poll_s = service.LOCAL_MAX_POLL_S if clients.is_local else service.MAX_POLL_S
    plan = service.plan_deploy(target, live, role_steps, request.wait, max_poll_s)
    created_alarms = len(rollout.created_alarms) if rollout is not None and live is not None else 0
    plan.plan.cost = _cost(config, clients, target.endpoint, scaling, request.max_cost, live, created_alarms)
    if plan.after and not request.wait:
        raise UsageError(
            "this update removes the variant's autoscaling while the instance type changes and "
            "re-applies it once InService, so it needs --wait"
        )
    planned = _run_and_read(plan, clients.client)
    planned.announce.insert(0, cost_summary(plan.plan.cost))
    if rollout is not None and plan.action == "create":
        planned.announce.append(
            f"--rollout {rollout.strategy.spec}: a new endpoint has no traffic to shift; it applies to later updates"
        )
    return planned


def _run_and_read(deploy: DeployPlan, client_for: ClientFor) -> Planned:
    """Run the plan: the endpoint role, the rollout (CreateModel retried while a role this deploy converged
    propagates), the wait for InService, then the scaling steps; a failed update puts removed scaling back, a
    rollout AWS refused is undone. The result: the endpoint (and its scaling) as it is afterwards."""
    from mlops_cli.plan.executor import Answers
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.deploy import endpoint as service
    from mlops_cli.services.deploy.endpoint_states import EndpointFailed

    target = deploy.target

    def run(executor: Executor, plan: Plan) -> Answers:
        from botocore.exceptions import ClientError

        answers = Answers()
        try:
            return executor.execute(plan, answers)
        except EndpointFailed as failure:
            raise OperationError(service.failure_message(deploy, failure, _restore(deploy, executor))) from None
        except ClientError as refused:
            undone = _undo(deploy, len(answers.ordered), refused, executor)
            if undone is None:
                raise
            from mlops_cli.aws import translate_error

            error = translate_error(refused)
            raise OperationError(f"{error}{undone}", hint=error.hint) from None

    def finish(answers: Answers) -> dict[str, Any]:
        described = answers.waited.get("endpoint")
        if described is None:  # --no-wait
            described = client_for("sagemaker").describe_endpoint(EndpointName=target.endpoint)
            return service.result(deploy, described, None, scaling_changed=False)
        scaling = autoscaling.read_state(client_for(autoscaling.SERVICE), target.endpoint, target.variant)
        return service.result(deploy, described, scaling, scaling_changed=bool(deploy.after))

    doing = (
        "creation"
        if deploy.action == "create"
        else f"{target.rollout.strategy.spec} rollout of {target.config_name} (the previous configuration serves "
        "the rest of the traffic until it completes, and all of it again if an alarm rolls it back)"
        if target.rollout is not None
        else f"update to {target.config_name} (the previous configuration serves until it completes)"
    )
    return Planned(
        deploy.plan,
        finish=finish,
        run=run,
        announce=[
            f"{'creating' if deploy.action == 'create' else 'updating (blue/green)'} endpoint {target.endpoint} "
            f"with {target.artifact.uri} ({target.artifact.source})"
        ],
        interrupted=(
            f"stopped waiting; the endpoint's {doing} continues in AWS"
            + ("; its autoscaling was removed for the update" if deploy.restore else ""),
            f"follow it with `mlops status`; stop paying with `mlops teardown --endpoint {target.endpoint}`"
            + ("; re-apply scaling with `mlops autoscale`" if deploy.restore else ""),
        ),
    )


def _undo(deploy: DeployPlan, failed_at: int, refused: Exception, executor: Executor) -> str | None:
    """A rollout AWS refused: its model and endpoint config deleted, the scaling it removed put back; a sentence
    for the error message. None when the failure is elsewhere (services/deploy/endpoint.py: undo_steps)."""
    from mlops_cli.plan.steps import Plan
    from mlops_cli.services.deploy import endpoint as service

    undo = service.undo_steps(deploy, failed_at, refused)
    if undo is None:
        return None
    left = []
    for step in undo:
        try:
            executor.execute(Plan(f"undo: {step.operation}", [step]))
        except Exception:  # the deploy already failed; name what is left instead of hiding the cause
            left.append(step.params.get("EndpointConfigName") or step.params["ModelName"])
    restored = _restore(deploy, executor) if service.descaled_before(deploy, failed_at) else ""
    if left:
        return f"; left behind (delete with `mlops teardown`): {', '.join(left)}{restored}"
    return ("; undone: this deploy's model and endpoint config deleted" if undo else "") + restored


def _restore(deploy: DeployPlan, executor: Executor) -> str:
    """Put back scaling removed for a failed update; a sentence for the error message."""
    from mlops_cli.plan.steps import Plan

    if not deploy.restore:
        return ""
    try:
        executor.execute(Plan(f"restore the autoscaling of {deploy.target.endpoint}", deploy.restore))
    except Exception as exc:  # the deploy already failed; say what is left to do instead of hiding the cause
        return f"; restoring its autoscaling failed ({exc}): re-apply it with `mlops autoscale`"
    return "; its autoscaling was restored"


def model_artifact(
    config: Config, clients: AwsClients, model: str | None, job: str | None, tuning_job: str | None
) -> Artifact:
    """The model.tar.gz to serve: --model, --job, --tuning-job's best trial, or the latest completed job."""
    from mlops_cli.services.deploy import endpoint as service

    if model:  # the project's own jobs put their models where its serving roles read
        check_readable(config, model)
    if tuning_job:
        from mlops_cli.services.tuning.job import best_trial_name

        job = best_trial_name(clients.client("sagemaker"), tuning_job)
    artifact = (
        service.assumed_artifact(config, model, job)
        if clients.offline
        else service.resolve_artifact(clients.client("sagemaker"), clients.client("s3"), config.project, model, job)
    )
    if tuning_job:
        artifact.source = f"best training job {job} of tuning job {tuning_job}"
    return artifact


def check_readable(config: Config, model: str) -> None:
    """On AWS a model the serving role may not read fails the endpoint minutes later (ping health check): said
    here, before anything is made."""
    from mlops_cli.services.iam.policies import MODEL_ARTIFACTS, readable_model
    from mlops_cli.services.naming import output_uri

    if config.train.sagemaker.role_arn or readable_model(config, model):
        return
    raise UsageError(
        f"--model {model} is outside what the project's generated serving roles may read "
        f"({output_uri(config)}{MODEL_ARTIFACTS})",
        hint="copy it there (for example s3://…/models/NAME/model.tar.gz), or set train.sagemaker.role_arn to a role "
        "that may read it",
    )


def check_model_flags(model: str | None, job: str | None, tuning_job: str | None) -> None:
    """--model, --job and --tuning-job: at most one, each well-formed (exit 2 before any AWS call)."""
    from mlops_cli.services.deploy import endpoint as service

    if model and job:
        raise UsageError("give --model or --job, not both")
    if tuning_job and (model or job):
        raise UsageError("give --tuning-job alone, not with --model or --job")
    if model:
        service.object_location(model)
    if job:
        from mlops_cli.services.training.job import check_job_name

        check_job_name(job, "--job")


def _check(config: Config, request: DeployRequest) -> ScalingSettings | None:
    """The flags' rules; the scaling settings asked for, if any."""
    from mlops_cli.services.deploy import autoscaling

    scaling = None
    if config.deploy.serverless.memory_mb is not None:
        if request.autoscale is not None:
            raise UsageError(
                "--autoscale does not apply to a serverless endpoint: SageMaker scales it itself, up to "
                "--serverless concurrency=N"
            )
        if request.instance_flags:
            raise UsageError("--instance-type and --instance-count do not apply to a serverless endpoint")
        if request.max_cost is not None:
            raise UsageError("--max-cost bounds instance hours; a serverless endpoint is billed per request")
        rollout = config.deploy.rollout
        if rollout.strategy is not None or rollout.rollback_on:
            raise UsageError(
                "--rollout and --rollback-on do not apply to a serverless endpoint: SageMaker's traffic shifting "
                "works on instance fleets"
            )
    rollout = config.deploy.rollout
    if rollout.rollback_on and rollout.strategy is None:
        raise UsageError(
            "--rollback-on needs --rollout: SageMaker watches the alarms while a traffic step bakes "
            "(e.g. --rollout all-at-once:5m)"
        )
    if request.autoscale is not None:
        scaling = autoscaling.parse_spec(request.autoscale, autoscaling.ScalingSettings.from_config(config.autoscale))
        if not request.wait:
            raise UsageError("--autoscale is applied once the endpoint is InService, so it needs --wait")
    check_model_flags(request.model, request.job, request.tuning_job)
    return scaling


def _cost(
    config: Config,
    clients: AwsClients,
    endpoint: str,
    scaling: ScalingSettings | None,
    max_cost: float | None,
    live: LiveEndpoint | None,
    alarms: int = 0,
) -> dict[str, Any]:
    """What will run, per hour and month at its minimum and maximum instance counts, and the rollback alarms a
    rollout creates; --max-cost checked here.

    On an update, the scaling in place stays unless --autoscale replaces it, and an autoscaled variant keeps the
    instance count it has (RetainAllVariantProperties): the range is what the scaling will hold, never less than
    what runs now. Meanwhile the old fleet serves until the new one is InService: both bill (priced apart)."""
    from mlops_cli.services import cost

    serverless = config.deploy.serverless
    if serverless.memory_mb is not None:
        return cost.serverless_cost(cost.shipped_prices(), serverless.memory_mb, serverless.max_concurrency)
    instance_type = config.deploy.instance_type
    low = scaling.min if scaling else config.deploy.instance_count
    high = max(scaling.max, low) if scaling else config.deploy.instance_count
    old_fleets: list[tuple[str, int]] = []
    new_instances = config.deploy.instance_count
    if live is not None:
        running = {v["VariantName"]: v for v in live.description.get("ProductionVariants") or []}
        for variant in live.config.get("ProductionVariants") or []:
            described = running.get(variant["VariantName"], {})
            count = int(described.get("CurrentInstanceCount") or variant.get("InitialInstanceCount") or 0)
            old_fleets.append((variant["InstanceType"], count))
        in_place = live.scaling.target
        if in_place is not None:
            new_instances = sum(count for _type, count in old_fleets) or new_instances
            if scaling is None:
                low, high = int(in_place["MinCapacity"]), int(in_place["MaxCapacity"])
        high = max(high, new_instances)
    prices = cost.load_prices(
        None if clients.is_local or clients.dry_run else clients.session,
        config.aws.region,
        hosting_types=tuple(dict.fromkeys([instance_type, *(t for t, _n in old_fleets)])),
    )
    estimate = cost.endpoint_cost(prices, instance_type, low, high, old_fleets, new_instances, alarms)
    cost.check_budget(estimate, max_cost, f"endpoint {endpoint} ({high} x {instance_type})")
    return estimate
