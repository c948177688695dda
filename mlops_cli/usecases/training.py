"""`mlops train` and `mlops tune`: the launch plan (role, source package, the job request) with its cost, checked
against --max-cost before anything is sent; then the job (or the trials) followed to the end, where Ctrl-C asks
whether to stop what runs in AWS."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from mlops_cli.common.job_logs import LogLine
from mlops_cli.errors import Interrupted, OperationError, UsageError
from mlops_cli.plan.sends import sends

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.training.job import JobEvent
    from mlops_cli.services.tuning.job import TuneSettings, TuningSnapshot

LOCAL_POLL_S = 1.0  # the local AWS answers in moments
TRAIN_POLL_S = 10.0
TUNE_POLL_S = 15.0
FAILURE_TAIL_LINES = 10
# Ctrl-C while a job runs in AWS: the command's question "stop <kind> <name>?" (--yes answers it).
StopAsked = Callable[[str, str], bool]


def hyperparameter_overrides(items: list[str]) -> dict[str, Any]:
    """`--hp key=value` items -> config overrides (`train.hyperparameters.lr`: 0.01), validated by the schema."""
    import difflib

    from pydantic import BaseModel, ValidationError

    from mlops_cli import documents
    from mlops_cli.config.schema import Hyperparameters, ModelConfig
    from mlops_cli.services.training.job import HYPERPARAMETER_SECTIONS

    sections: dict[str, type[BaseModel]] = {"train.hyperparameters": Hyperparameters, "model": ModelConfig}
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--hp expects key=value, got '{item}'")
        if key not in HYPERPARAMETER_SECTIONS:
            close = difflib.get_close_matches(key, list(HYPERPARAMETER_SECTIONS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UsageError(
                f"--hp {item}: unknown hyperparameter '{key}'{hint}; known: "
                f"{', '.join(sorted(HYPERPARAMETER_SECTIONS))}"
            )
        try:
            value = documents.load_yaml(raw, f"--hp {key}", documents.ENV_VALUE)[0] if raw.strip() else raw
        except documents.SyntaxProblem:
            value = raw
        section = HYPERPARAMETER_SECTIONS[key]
        try:
            validated = sections[section].model_validate({key: value})
        except ValidationError as exc:
            error = exc.errors()[0]
            raise UsageError(f"--hp {item}: {error['msg'].removeprefix('Value error, ')}") from None
        overrides[f"{section}.{key}"] = getattr(validated, key)
    return overrides


@sends("sts", "GetCallerIdentity")  # the account of a real run (_account)
def planned_training(config: Config, clients: AwsClients, job_name: str | None, max_cost: float | None) -> Planned:
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services import cost
    from mlops_cli.services.training import job as training

    launch = training.plan_training(
        config, account_id=_account(clients), partition=clients.partition, job_name=job_name
    )
    sagemaker = config.train.sagemaker
    launch.plan.cost = cost.training_cost(
        _prices(config, clients), sagemaker.instance_type, sagemaker.instance_count, sagemaker.max_run_s, sagemaker.spot
    )
    cost.check_budget(
        launch.plan.cost,
        max_cost,
        f"training job ({sagemaker.instance_count} x {sagemaker.instance_type}, max {sagemaker.max_run_s} s)",
    )
    return Planned(
        launch.plan,
        finish=lambda answers: training.launch_result(launch, answers, "TrainingJobArn"),
        warnings=launch.warnings,
        announce=[cost.summary(launch.plan.cost)],
    )


@dataclass(frozen=True)
class TuneRequest:
    """`mlops tune`'s flags for the search; None: the config's `tune:` value."""

    strategy: str | None = None
    objective: str | None = None
    max_jobs: int | None = None
    parallel: int | None = None
    early_stopping: str | None = None
    ranges: list[str] | None = None
    warm_start: list[str] | None = None
    seed: int | None = None
    write_best: Path | None = None


def tuning_settings(config: Config, request: TuneRequest) -> TuneSettings:
    """The search the flags and the config ask for; a bad flag (or --write-best target) exits 2 before any AWS
    call."""
    from mlops_cli.services.tuning import job as tuning

    settings = tuning.settings(
        config,
        strategy=request.strategy,
        objective=request.objective,
        max_jobs=request.max_jobs,
        parallel=request.parallel,
        early_stopping=request.early_stopping,
        ranges=request.ranges,
        warm_start=request.warm_start,
        seed=request.seed,
    )
    if request.write_best is not None:
        tuning.check_overlay_target(request.write_best)
    return settings


@sends("sts", "GetCallerIdentity")  # the account of a real run (_account)
def planned_tuning(
    config: Config, clients: AwsClients, settings: TuneSettings, job_name: str | None, max_cost: float | None
) -> Planned:
    from mlops_cli.config.tuning_ranges import backwards
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services import cost
    from mlops_cli.services.training import job as training
    from mlops_cli.services.tuning import job as tuning

    launch = tuning.plan_tuning(
        config, settings, account_id=_account(clients), partition=clients.partition, job_name=job_name
    )
    sagemaker = config.train.sagemaker
    trials = tuning.grid_size(settings.ranges) if settings.strategy == "grid" else settings.max_jobs
    launch.plan.cost = cost.tuning_cost(
        _prices(config, clients),
        sagemaker.instance_type,
        sagemaker.instance_count,
        sagemaker.max_run_s,
        trials,
        sagemaker.spot,
    )
    cost.check_budget(
        launch.plan.cost,
        max_cost,
        f"tuning job ({trials} trials of {sagemaker.instance_count} x {sagemaker.instance_type}, max "
        f"{sagemaker.max_run_s} s each)",
    )
    return Planned(
        launch.plan,
        finish=lambda answers: training.launch_result(launch, answers, "HyperParameterTuningJobArn"),
        warnings=[warning for warning in (backwards(settings.objective), *launch.warnings) if warning],
        announce=[cost.summary(launch.plan.cost)],
    )


def _account(clients: AwsClients) -> Callable[[], str]:
    """A dry run does not look the account up: the plan shows the placeholder account."""
    from mlops_cli.services.training import job as training

    return (lambda: training.ACCOUNT_PLACEHOLDER) if clients.dry_run else (lambda: clients.account_id)


def _prices(config: Config, clients: AwsClients) -> Any:
    """AWS's price list for a real run against AWS; the shipped table for local runs and dry runs (offline)."""
    from mlops_cli.services import cost

    return cost.load_prices(
        None if clients.is_local or clients.dry_run else clients.session,
        config.aws.region,
        training_types=(config.train.sagemaker.instance_type,),
    )


@dataclass
class TrainingOutcome:
    description: dict[str, Any]  # DescribeTrainingJob's answer
    log_tail: list[str]  # the last log lines followed, `[algo-N] message`

    @property
    def completed(self) -> bool:
        return self.description["TrainingJobStatus"] == "Completed"

    def failure(self) -> OperationError:
        from mlops_cli.services.training import job as training

        return training.failure_error(self.description)


def follow_training(
    clients: AwsClients,
    job_name: str,
    *,
    on_launched: Callable[[str], None],
    on_event: Callable[[JobEvent], None] | None,
    stop_asked: StopAsked,
) -> TrainingOutcome:
    """The launched job (said by `on_launched`, given the command that stops it, already within Ctrl-C's reach)
    followed to its end, each status
    change, log line and metric to `on_event`; without `on_event` (--no-wait) the job as it is now.
    Ctrl-C: exit 130, the job stopped if `stop_asked` says so."""
    from mlops_cli.services.training import job as training

    try:
        on_launched(training.stop_command(job_name))
        sagemaker = clients.client("sagemaker")
        if on_event is None:
            return TrainingOutcome(training.describe_job(sagemaker, job_name), [])
        poll_s = LOCAL_POLL_S if clients.is_local else TRAIN_POLL_S
        tail: deque[str] = deque(maxlen=FAILURE_TAIL_LINES)
        for item in training.follow_job(sagemaker, clients.client("logs"), job_name, poll_s=poll_s):
            on_event(item)
            if isinstance(item, (LogLine, training.MetricValues)):
                line = item.line if isinstance(item, training.MetricValues) else item
                tail.append(f"[{line.host}] {line.message}")
            elif isinstance(item, training.JobFinished):
                return TrainingOutcome(item.description, list(tail))
    except KeyboardInterrupt:
        _stop_or_leave(
            "training job",
            job_name,
            stop_asked,
            stop=lambda: training.stop_job(clients.client("sagemaker"), job_name),
            stop_command=training.stop_command(job_name),
            describe_command=f"aws sagemaker describe-training-job --training-job-name {job_name}",
        )
    raise AssertionError("follow_job ends with JobFinished")  # pragma: no cover


@dataclass
class TuningOutcome:
    snapshot: TuningSnapshot  # the tuning job and its trials, last seen
    document: dict[str, Any]  # services/tuning/job.result_document, the best trial described
    overlay: Path | None  # where the best values were written (--write-best)
    curves: dict[str, list[float]] | None = None  # each trial's objective per epoch, from its log (--plot)

    @property
    def ranges(self) -> dict[str, Any]:
        """The ParameterRanges the job searched (as CreateHyperParameterTuningJob took them)."""
        return self.snapshot.description["HyperParameterTuningJobConfig"].get("ParameterRanges") or {}

    def failure(self) -> OperationError | None:
        """A tuning job that ended other than Completed, or with no trial reporting the objective."""
        document = self.document
        if not self.snapshot.finished:
            return None
        if self.snapshot.status != "Completed":
            reason = document.get("failure_reason") or "no reason given"
            return OperationError(f"tuning job {document['tuning_job']} {self.snapshot.status.lower()}: {reason}")
        if not document["best"]:
            return OperationError(
                f"tuning job {document['tuning_job']}: no trial reported {document['objective']['name']}"
            )
        return None


def follow_tuning(
    clients: AwsClients,
    name: str,
    *,
    on_launched: Callable[[str], None],
    following: AbstractContextManager[Callable[[TuningSnapshot], None]] | None,
    stop_asked: StopAsked,
    write_best: Path | None,
    curves: bool = False,
) -> TuningOutcome:
    """The launched tuning job (said by `on_launched`, given the command that stops it, already within Ctrl-C's
    reach) followed to its end, each snapshot to the update `following` opens (closed before Ctrl-C asks its
    question); without `following` (--no-wait) the job as it is now. Then the best trial (of the warm start
    parents' too) described and, when followed, every hyperparameter it ran with written to `write_best`, and with
    `curves` each trial's objective per epoch read from its log. Ctrl-C: exit 130, the job stopped if `stop_asked`
    says so."""
    from mlops_cli.services.training import job as training
    from mlops_cli.services.tuning import job as tuning

    try:
        on_launched(tuning.stop_command(name))
        sagemaker = clients.client("sagemaker")
        if following is None:
            current = tuning.snapshot(sagemaker, name)
        else:
            poll_s = LOCAL_POLL_S if clients.is_local else TUNE_POLL_S
            with following as on_update:
                for current in tuning.follow_tuning(sagemaker, name, poll_s=poll_s):
                    on_update(current)
    except KeyboardInterrupt:
        _stop_or_leave(
            "tuning job",
            name,
            stop_asked,
            stop=lambda: tuning.stop_tuning(clients.client("sagemaker"), name),
            stop_command=tuning.stop_command(name),
            describe_command="aws sagemaker describe-hyper-parameter-tuning-job "
            f"--hyper-parameter-tuning-job-name {name}",
        )
    best = tuning.best_summary(current.description)
    best_description = training.describe_job(sagemaker, best["TrainingJobName"]) if best else None
    document = tuning.result_document(current, best_description)
    overlay = write_best if following is not None and best_description else None  # --no-wait: nothing is final
    if overlay is not None and best_description is not None:
        tuning.write_overlay(
            overlay,
            document["tuning_job"],
            best_description["TrainingJobName"],
            training.decode_hyperparameters(best_description.get("HyperParameters") or {}),
        )
    trial_curves = tuning.objective_curves(clients.client("logs"), current) if curves else None
    return TuningOutcome(current, document, overlay, trial_curves)


def _stop_or_leave(
    kind: str, name: str, stop_asked: StopAsked, *, stop: Callable[[], None], stop_command: str, describe_command: str
) -> NoReturn:
    """Ctrl-C while a job runs in AWS: stop it when `stop_asked`; exit 130 either way, saying what goes on."""
    if not stop_asked(kind, name):
        raise Interrupted(f"{kind} {name} is still running in AWS", hint=f"stop it later with: {stop_command}")
    stop()
    raise Interrupted(f"stop requested for {kind} {name}; it ends as Stopped (`{describe_command}` shows it)")
