"""`mlops config permissions`: the AWS operations each command sends, derived from the command's own code.

For each command its planners run as `--dry-run` runs them without AWS: against an account where nothing
exists yet (mlops_cli.aws_offline), through clients that record every operation asked of them (the reads made
while planning). The plans they return add their steps with the steps' fallbacks, checks and waits
(`Plan.operations()`). Where an empty account hides a branch (an endpoint to update rather than create, things
to delete, scaling to remove), the same planner also plans against an account where the project's resources
exist and differ from what the command wants (the `_existing_*` states below). The functions a command calls
around its plan (following a job, reading the result, the stop sent on Ctrl-C, the reads of each resource found,
a plan's own sender such as an upload's transfers or a load test's requests) declare what they send next to their
code (mlops_cli.plan.sends).

So a new step, wait or read in a command's code reaches the policy without an edit here;
tests/strict/test_permissions.py runs the commands against the local AWS and checks every call against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan import Operation, Plan
    from mlops_cli.services.deploy.autoscaling import ScalingState
    from mlops_cli.services.deploy.endpoint import DeployTarget, LiveEndpoint
    from mlops_cli.services.lambda_.function import LambdaSpec, Observed
    from mlops_cli.services.s3sync import SyncPlan
    from mlops_cli.services.teardown import Inventory

Planner = Callable[["Config", "AwsClients"], "Iterable[Plan]"]
EXAMPLE_IMAGE_URL = "https://example.com/image.jpg"  # what invoke plans with: a URL is never fetched here
EXAMPLE_JOB = "example-job"  # the train-ec2 job planned against existing resources


@dataclass(frozen=True)
class Derivation:
    """How a command's operations are found: `plans` (its planners, run offline, every read recorded) and
    `around` (the functions it calls outside its plan, each declaring what it sends)."""

    plans: Planner | None = None
    around: Callable[[], tuple[Callable[..., Any], ...]] = tuple


def permissions_policy(
    config: Config, clients: AwsClients, words: Iterable[str], account: str | None, reuse: bool = False
) -> dict[str, Any]:
    """The policy document for the commands named (`words` as typed; none: every command) in `account` (default:
    the caller's, from STS). Unknown commands and a malformed account are usage errors, before any AWS call.
    `reuse`: what an earlier run derived for the same code and config (mlops_cli.usecases.permissions_cache), as
    the command does; code that changes the derivation in-process (a test's planner) derives afresh."""
    from mlops_cli.services.iam import permissions
    from mlops_cli.usecases.permissions_cache import cached

    chosen = permissions.parse_commands(words, commands())
    if account is not None:
        permissions.check_account(account)
    scope = permissions.Scope.from_config(config, account or clients.account_id, clients.partition)
    return permissions.policy(scope, cached(config, chosen, operations) if reuse else operations(config, chosen))


def operations(config: Config, chosen: Iterable[str]) -> dict[str, set[Operation]]:
    """Every (service, operation) that running each chosen command may send."""
    from mlops_cli.aws import AwsClients
    from mlops_cli.plan import sent_by

    found: dict[str, set[Operation]] = {}
    recording: set[Operation] = set()
    clients = AwsClients.planning_only(config.aws, lambda service, operation: recording.add((service, operation)))
    for command in chosen:
        derivation = DERIVATIONS[command]
        recording.clear()
        planned = list(derivation.plans(config, clients)) if derivation.plans is not None else []
        found[command] = {
            *recording,
            *((service, operation) for plan in planned for service, operation, _resource in plan.operations()),
            *sent_by(*derivation.around()),
        }
    return found


def commands() -> list[str]:
    """Every command that calls AWS."""
    return sorted(DERIVATIONS)


# --- the planners, as each command calls them -------------------------------------------------------------------


def _train(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.usecases.training import planned_training

    return [planned_training(config, clients, None, None).plan]


def _tune(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.services.tuning import job as tuning
    from mlops_cli.usecases.training import planned_tuning

    return [planned_tuning(config, clients, tuning.settings(config), None, None).plan]


def _deploy(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.config.schema import RolloutConfig
    from mlops_cli.usecases.deploy import DeployRequest, planned_deploy

    request = DeployRequest(autoscale=f"max={config.autoscale.max}")
    # An update may be a rollout guarded by alarms of the tool's own (deploy --rollout … --rollback-on …).
    rollout = config.model_copy(
        update={
            "deploy": config.deploy.model_copy(
                update={"rollout": RolloutConfig(strategy="canary:10%:5m", rollback_on=["p99>1s"])}
            )
        }
    )
    return [
        planned_deploy(config, clients, request).plan,
        planned_deploy(config, clients, request, assume_live=_existing_endpoint).plan,
        planned_deploy(rollout, clients, request, assume_live=_existing_endpoint).plan,
    ]


def _predict_batch(config: Config, clients: AwsClients) -> list[Plan]:
    from contextlib import nullcontext

    from mlops_cli.services.naming import data_uri
    from mlops_cli.usecases.batch import BatchRequest, planned_batch

    request = BatchRequest(f"{data_uri(config)}/test", wait=True)
    with planned_batch(config, clients, request, nullcontext) as planned:  # type: ignore[arg-type]  # no upload
        batch = planned.plan
    import dataclasses

    upload = dataclasses.replace(_existing_sync(config), deletes=[])  # a local folder's upload (never --delete)
    return [batch, upload.to_plan()]


def _autoscale(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.services import naming
    from mlops_cli.services.deploy import autoscaling

    name, variant = config.endpoint_name, config.deploy.variant_name
    current = autoscaling.read_state(clients.client(autoscaling.SERVICE), name, variant)
    desired = autoscaling.ScalingSettings.from_config(config.autoscale)
    tags = naming.tag_map(config, endpoint=name)
    return [
        autoscaling.plan_autoscale(current, desired, tags),
        autoscaling.plan_autoscale(_existing_scaling(name, variant), desired, tags),
        autoscaling.plan_autoscale(_existing_scaling(name, variant), None, tags),  # --off
    ]


def _invoke(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.services.deploy.invoke import DEFAULT_TOP_K
    from mlops_cli.usecases.invoke import planned_invoke

    return [planned_invoke(config, EXAMPLE_IMAGE_URL, DEFAULT_TOP_K).plan]


def _lambda_deploy(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.services.lambda_ import function as lambda_deploy
    from mlops_cli.usecases.lambda_ import planned_lambda_deploy

    spec = lambda_deploy.LambdaSpec.from_config(config, clients.account_id, clients.partition)
    return [
        planned_lambda_deploy(config, clients).plan,
        lambda_deploy.plan_deploy(spec, lambda_deploy.build_package(), _existing_function(spec)),
    ]


def _lambda_invoke(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.usecases.lambda_ import planned_lambda_invoke

    return [planned_lambda_invoke(config, None, EXAMPLE_IMAGE_URL, None).plan]


def _concurrency(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.services.lambda_ import concurrency
    from mlops_cli.usecases.concurrency import ConcurrencyRequest, planned_concurrency

    existing = concurrency.ConcurrencyState(
        config.function_name,
        config.lambda_.alias,
        "1",
        reserved=1,
        provisioned={"Status": "READY", "RequestedProvisionedConcurrentExecutions": 1},
        account_limit=1000,
        unreserved=999,
    )
    return [
        planned_concurrency(config, clients, ConcurrencyRequest(reserved=1, provisioned=1)).plan,
        concurrency.plan_clear(existing),
    ]


def _upload(config: Config, clients: AwsClients) -> list[Plan]:
    # plan_sync's reads (the destination, beside this machine's sync state) are declared on it; the sync planned
    # here is the one an empty account never asks for.
    return [_existing_sync(config).to_plan()]


def _train_ec2(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.services import naming
    from mlops_cli.services.ec2 import job as ec2_job
    from mlops_cli.services.ec2 import local as ec2_local
    from mlops_cli.services.ec2 import training as ec2_training
    from mlops_cli.services.training.packaging import build_source_tarball, source_uri
    from mlops_cli.usecases.ec2_training import Ec2TrainingRequest, planned_ec2_training

    _user_data, launch = planned_ec2_training(config, clients, Ec2TrainingRequest(), lambda _line: None)
    package = build_source_tarball()
    job = ec2_job.new_job(config, EXAMPLE_JOB, source_uri(package, naming.code_prefix(config)))
    ended = [f"{ec2_job.JOB_POLICY_PREFIX}{config.project}-ec2-ended"]  # the write access of a job that has ended
    return [
        launch.plan,
        ec2_training.build_plan(config, job, package, clients.partition, ended),
        ec2_local.plan_local(job, ["python"], Path("model.tar.gz"), upload=True),  # --local
    ]


def _loadtest(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.services.deploy.loadtest import LoadSpec, plan_load

    function = f"{config.function_name}:{config.lambda_.alias}"
    return [
        plan_load(LoadSpec(target, name, 1, 1, 1, 1), 1)
        for target, name in (("endpoint", config.endpoint_name), ("lambda", function))
    ]


def _status(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.services.status import gather

    gather(clients.client, config)  # reads only: what it asks is recorded
    return []


def _teardown(config: Config, clients: AwsClients) -> list[Plan]:
    from mlops_cli.services import teardown

    inventory = teardown.find(clients.client, config, None, everything=True, functions=True)
    return [teardown.plan_teardown(inventory), teardown.plan_teardown(_existing_inventory(config))]


# --- accounts where the project's resources exist: the branches an empty account does not take ----------------


def _existing_scaling(endpoint: str, variant: str) -> ScalingState:
    """Scaling on the variant, with a policy: what `autoscale --off`, teardown and an update remove."""
    from mlops_cli.services.deploy import autoscaling

    return autoscaling.ScalingState(
        endpoint,
        variant,
        target={"MinCapacity": 1, "MaxCapacity": 2, "ScalableTargetARN": "arn:aws:application-autoscaling:target"},
        policies=[{"PolicyName": "another-policy", "PolicyType": autoscaling.POLICY_TYPE}],
    )


def _existing_endpoint(target: DeployTarget) -> LiveEndpoint:
    """The endpoint serving an older configuration on another instance type, scaled: the update that sends the
    most (its scaling removed for the update and applied again after)."""
    from mlops_cli.services.deploy.endpoint import LiveEndpoint

    return LiveEndpoint(
        {"EndpointStatus": "InService", "EndpointConfigName": f"{target.endpoint}-previous"},
        {"ProductionVariants": [{"VariantName": target.variant, "InstanceType": "another-type"}]},
        _existing_scaling(target.endpoint, target.variant),
    )


def _existing_function(spec: LambdaSpec) -> Observed:
    """The function, its alias and its role as an older deploy or someone else left them: every part differs."""
    from mlops_cli.services.lambda_.function import Observed

    return Observed(
        role={"AssumeRolePolicyDocument": {}, "Tags": []},
        inline_policies={"another-policy": {}},
        attached_policies=["arn:aws:iam::aws:policy/AnotherPolicy"],
        function={"FunctionArn": f"arn:aws:lambda:::function:{spec.function_name}:$LATEST"},
        alias={"FunctionVersion": "1"},
    )


def _existing_sync(config: Config) -> SyncPlan:
    """Every branch of a sync at once (no real destination is all of these): the bucket to create, a killed run's
    multipart upload to abort, a small file and a large one to send, a remote object no local file has (--delete)."""
    from mlops_cli.services import naming, s3sync
    from mlops_cli.services.s3sync.planner import MIN_PART_SIZE, Transfer
    from mlops_cli.services.s3sync.source import LocalFile, SourceTree
    from mlops_cli.services.s3sync.state import PendingMultipart

    dest = s3sync.parse_s3_uri(naming.data_uri(config))
    small, large = (
        LocalFile(name, Path(name), size, 0, sha256="0" * 64)
        for name, size in (("small.png", 1), ("large.bin", 2 * MIN_PART_SIZE))
    )
    return s3sync.SyncPlan(
        SourceTree(Path(), [small, large]),
        dest,
        config.aws.region,
        create_bucket=True,
        transfers=[
            Transfer(small, dest.key_for(small.relative), "new"),
            Transfer(large, dest.key_for(large.relative), "changed", part_size=MIN_PART_SIZE),
        ],
        skipped=0,
        deletes=[dest.key_for("removed.png")],
        remote_only=0,
        orphans=[PendingMultipart(dest.key_for("killed.bin"), "upload-id")],
    )


def _existing_inventory(config: Config) -> Inventory:
    """One of everything teardown deletes or stops."""
    from mlops_cli.services import teardown

    endpoint = config.endpoint_name
    return teardown.Inventory(
        tuning_jobs=[f"{config.project}-tuning"],
        training_jobs=[f"{config.project}-train"],
        training_instances=["i-0123456789abcdef0"],
        endpoints=[endpoint],
        scaling=[_existing_scaling(endpoint, config.deploy.variant_name)],
        endpoint_configs=[f"{endpoint}-config"],
        models=[f"{endpoint}-model"],
        functions=[config.function_name],
        roles=[teardown.LambdaRole("role", ["another-policy"], ["arn:aws:iam::aws:policy/AnotherPolicy"])],
        alarms=[f"{config.project}-rollout-{endpoint}-p99-latency-gt-1s"],
    )


# --- what each command calls around its plan ---------------------------------------------------------------------


def _around_train() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.services.training import job as training
    from mlops_cli.usecases.training import planned_training

    return (planned_training, training.describe_job, training.follow_job, training.stop_job)


def _around_tune() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.services.training import job as training
    from mlops_cli.services.tuning import job as tuning
    from mlops_cli.usecases.training import planned_tuning

    return (planned_tuning, tuning.snapshot, tuning.follow_tuning, tuning.stop_tuning, training.describe_job)


def _around_deploy() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.services.deploy import endpoint as deploy
    from mlops_cli.services.deploy.rollout import check_named_alarms
    from mlops_cli.services.tuning import job as tuning
    from mlops_cli.usecases.deploy import planned_deploy

    return (
        deploy.resolve_artifact,
        tuning.best_trial_name,
        deploy.read_live,
        check_named_alarms,
        planned_deploy,
    )


def _around_predict_batch() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.services import s3sync
    from mlops_cli.services.deploy import endpoint as deploy
    from mlops_cli.services.tuning import job as tuning
    from mlops_cli.usecases.batch import planned_batch

    # A folder's upload: the sync's reads here, its transfers in the plan above (it never deletes).
    return (deploy.resolve_artifact, tuning.best_trial_name, planned_batch, s3sync.plan_sync)


def _around_autoscale() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.services.deploy import autoscaling

    return (autoscaling.check_variant, autoscaling.read_state)


def _around_upload() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.usecases.upload import planned_upload

    return (planned_upload,)


def _around_train_ec2() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.usecases.ec2_training import follow_launch, planned_ec2_training

    return (planned_ec2_training, follow_launch)


def _around_loadtest() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.usecases.loadtest import planned_loadtest

    return (planned_loadtest,)


def _around_lambda_deploy() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.services.lambda_ import function as lambda_deploy

    return (lambda_deploy.observe, lambda_deploy.deploy_result)


def _around_concurrency() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.services.lambda_ import concurrency
    from mlops_cli.usecases.concurrency import planned_concurrency

    return (concurrency.read_state, planned_concurrency)


def _around_status() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.services.status import gather

    return (gather,)


def _around_teardown() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.services.teardown import find

    return (find,)


def _around_audit() -> tuple[Callable[..., Any], ...]:
    from mlops_cli.services.audit.collect import collect_account

    return (collect_account,)


DERIVATIONS: dict[str, Derivation] = {
    "data upload": Derivation(_upload, _around_upload),
    "train": Derivation(_train, _around_train),
    "train-ec2": Derivation(_train_ec2, _around_train_ec2),
    "tune": Derivation(_tune, _around_tune),
    "deploy": Derivation(_deploy, _around_deploy),
    "predict-batch": Derivation(_predict_batch, _around_predict_batch),
    "autoscale": Derivation(_autoscale, _around_autoscale),
    "invoke": Derivation(_invoke),
    "loadtest": Derivation(_loadtest, _around_loadtest),
    "lambda deploy": Derivation(_lambda_deploy, _around_lambda_deploy),
    "lambda invoke": Derivation(_lambda_invoke),
    "concurrency set": Derivation(_concurrency, _around_concurrency),
    "status": Derivation(_status, _around_status),
    "teardown": Derivation(_teardown, _around_teardown),
    "audit-iam": Derivation(around=_around_audit),  # reads only, none of them planned: all declared
}
