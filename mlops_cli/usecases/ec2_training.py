"""`mlops train-ec2`: the launch of a self-terminating EC2 instance (services/ec2/training.py) and the job followed
to its end; or, with --local, the same entry point on this machine (services/ec2/local.py) as a plan of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import Interrupted, OperationError, UsageError
from mlops_cli.plan.sends import sends_via
from mlops_cli.services.ec2 import follow as ec2_follow
from mlops_cli.services.ec2 import local as ec2_local
from mlops_cli.services.ec2 import roles as ec2_roles
from mlops_cli.services.ec2 import training as service

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan.executor import Executor
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.ec2.job import Ec2Job
    from mlops_cli.services.ec2.training import Launch
    from mlops_cli.services.training.packaging import SourcePackage

LOCAL_OUT_ROOT = Path(".mlops") / "train-ec2"
OUT_MARKER = ".mlops-train-ec2"  # marks an --out-dir as this command's own output
LOCAL_POLL_S = 1.0
AWS_POLL_S = 15.0


@dataclass(frozen=True)
class Ec2TrainingRequest:
    """What the flags ask for (instance type, hyperparameters and --data-dir arrive through the config)."""

    job_name: str | None = None  # default: <project>-ec2-<UTC timestamp>
    local: bool = False
    out_dir: Path | None = None  # --local: default .mlops/train-ec2/<job>
    upload: bool = True  # --local: model.tar.gz to the job's prefix
    max_cost: float | None = None  # USD: refuse a launch whose estimate (instance hours to max_run_s) is higher


def check_flags(*, local: bool, instance_type: str | None, local_only: bool, max_cost: float | None = None) -> None:
    """`local_only`: --data-dir, --out-dir or --no-upload given."""
    if local and instance_type:
        raise UsageError("--instance-type does not apply with --local (it trains on this machine)")
    if local and max_cost is not None:
        raise UsageError("--max-cost does not apply with --local (it trains on this machine)")
    if not local and local_only:
        raise UsageError("--data-dir, --out-dir and --no-upload apply only with --local")


@sends_via(ec2_local.upload_artifact)  # sent by the plan's own run (train_here)
def _planned_here(
    config: Config, clients: AwsClients, name: str, request: Ec2TrainingRequest, on_output: Callable[[str], None]
) -> Planned:
    """--local: the entry point run here, its model packed, and (unless --no-upload) uploaded as the bootstrap
    would; planned from flags and files alone."""
    from mlops_cli.plan import Answers
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.ec2 import job as ec2_job
    from mlops_cli.services.owned_folder import check_owned, claim

    out_dir = request.out_dir or LOCAL_OUT_ROOT / name
    # Its model/, checkpoints/ (a re-run resumes from them) and model.tar.gz; never a folder of the user's.
    check_owned(
        out_dir, OUT_MARKER, "mlops train-ec2 --local", {"model", "checkpoints", "model.tar.gz", "model.tar.gz.partial"}
    )
    job = ec2_job.new_job(config, name, code_uri="")
    data = Path(config.data.local_dir)
    ec2_local.check_data_dir(data)
    argv = ec2_local.local_command(job, data, out_dir)
    tar_path = out_dir / "model.tar.gz"

    def train_here(_executor: Any, _plan: Any) -> Answers:
        claim(out_dir, OUT_MARKER, "mlops train-ec2 --local")
        code, tail = ec2_local.run_local(argv, on_output)
        if code != 0:
            raise OperationError(f"training failed (exit {code}): {tail[-1] if tail else 'no output'}")
        ec2_local.pack_model_dir(out_dir / "model", tar_path)
        if request.upload:
            ec2_local.upload_artifact(clients.client("s3"), tar_path, job.model_artifact)
        return Answers()

    def finish(_answers: Answers) -> dict[str, Any]:
        return {
            "job_name": name,
            "data_dir": str(data),
            "model_dir": str(out_dir / "model"),
            "model_tar": str(tar_path),
            "model_artifact": job.model_artifact if request.upload else None,
        }

    return Planned(
        ec2_local.plan_local(job, argv, tar_path, request.upload),
        finish=finish,
        announce=[f"training {name} here: {' '.join(argv[1:])}"],
        run=train_here,
        reads_aws=False,
    )


@sends_via(ec2_roles.stale_job_policies, ec2_roles.remove_job_policy)  # remove_job_policy: after a failed launch
def _planned_launch(config: Config, clients: AwsClients, job: Ec2Job, package: SourcePackage) -> Planned:
    """The launch plan (policies of ended jobs found first; offline: none), and the launch it results in. The AMI
    lookup's answer is checked before the rest is sent, so with no image nothing is written; a failed
    RunInstances removes this job's policy again (nothing will use it)."""
    from mlops_cli.plan import Answers, Plan
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.ec2.images import pick_image

    client_for = clients.client
    stale = (
        []
        if clients.offline
        else ec2_roles.stale_job_policies(
            client_for("iam"), client_for("ec2"), client_for("s3"), config, job.policy_name
        )
    )
    plan = service.build_plan(config, job, package, clients.partition, stale)

    def run(executor: Executor, plan: Plan) -> Answers:
        lookup, writes = plan.steps[:1], plan.steps[1:]  # build_plan puts the AMI lookup first
        answers = executor.execute(Plan(plan.title, lookup))
        pick_image(answers["image"], job.instance_type, config.train.ec2.ami_id)  # no image: a clear error here
        try:
            return executor.execute(Plan(plan.title, writes), answers)
        except Exception:
            if any(step.operation == "PutRolePolicy" for step in plan.steps):
                ec2_roles.remove_job_policy(client_for("iam"), config, job.policy_name)
            raise

    return Planned(plan, finish=lambda answers: service.launched(config, job, answers, stale), run=run)


@sends_via(_planned_here, _planned_launch)
def planned_ec2_training(
    config: Config, clients: AwsClients, request: Ec2TrainingRequest, on_output: Callable[[str], None]
) -> tuple[str | None, Planned]:
    """The bootstrap the instance will run (None with --local) and the plan: the launch, whose result is a
    `Launch`; or the run here, whose result is the local run's document (`on_output` gets its output lines)."""
    from mlops_cli.services import cost, naming
    from mlops_cli.services.ec2 import images as ec2_images
    from mlops_cli.services.ec2 import job as ec2_job
    from mlops_cli.services.training.job import check_job_name
    from mlops_cli.services.training.packaging import build_source_tarball, source_uri

    name = check_job_name(request.job_name or naming.timestamped(config, "ec2"))
    if request.local:
        return None, _planned_here(config, clients, name, request, on_output)
    ec2 = config.train.ec2
    # The shipped table (EC2 on-demand, us-east-1): checked before anything is read or sent.
    estimate = cost.ec2_training_cost(cost.shipped_prices(), ec2.instance_type, ec2.volume_gb, ec2.max_run_s)
    cost.check_budget(estimate, request.max_cost, f"EC2 training job (1 x {ec2.instance_type}, max {ec2.max_run_s} s)")
    package = build_source_tarball()
    job = ec2_job.new_job(config, name, source_uri(package, naming.code_prefix(config)))
    planned = _planned_launch(config, clients, job, package)
    planned.plan.cost = estimate
    planned.announce.append(cost.summary(estimate))
    warning = ec2_images.unsupported_type_warning(job.instance_type, config.train.ec2.ami_id)
    if warning:
        planned.warnings.append(warning)
    return service.user_data(job), planned


@sends_via(ec2_follow.follow, ec2_roles.remove_job_policy)
def follow_launch(
    config: Config, clients: AwsClients, launch: Launch, on_state: Callable[[str], None]
) -> dict[str, Any]:
    """Wait until the job records its status (or its instance ends without one); then remove the job's write
    access. The launch's document with the job's status. Ctrl-C: exit 130, the instance goes on and ends itself."""
    job, instance_id = launch.job, launch.instance_id
    try:
        status = ec2_follow.follow(
            clients.client("ec2"),
            clients.client("s3"),
            job,
            instance_id,
            poll_s=LOCAL_POLL_S if clients.is_local else AWS_POLL_S,
            on_state=on_state,
        )
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped waiting; instance {instance_id} keeps training and terminates itself when the job ends "
            f"(status: {job.status_uri})",
            hint=f"stop it now with: {ec2_follow.stop_hint(instance_id)}",
        ) from None
    ec2_roles.remove_job_policy(clients.client("iam"), config, job.policy_name)
    return {**launch.to_dict(), **status}


def failure(result: dict[str, Any]) -> OperationError:
    """A followed job that did not complete: exit 1 with its recorded reason."""
    return OperationError(
        f"EC2 training job {result['job_name']} failed: {result.get('reason') or 'no reason recorded'}"
    )
