"""SageMaker hyperparameter tuning jobs: the CreateHyperParameterTuningJob request as data, launching it, following
its trials, its best training job, and the best values as a config overlay.

The trials are the training job `mlops train` runs: the TrainingJobDefinition is `training.job_definition` with the
hyperparameters split into the tuned ones (ParameterRanges) and the static rest (StaticHyperParameters, every value
JSON-encoded like the SDK's, script-mode keys included).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.aws import error_code
from mlops_cli.common import job_logs
from mlops_cli.common.parameter_ranges import ParameterRange
from mlops_cli.config.tuning_ranges import (
    Objective,
    RangeError,
    parameter_ranges,
    parse_objective,
    parse_range,
    parse_range_flag,
)
from mlops_cli.errors import UsageError
from mlops_cli.plan.sends import sends, sends_via
from mlops_cli.services import naming
from mlops_cli.services.training import job as training

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

STRATEGIES = {"bayesian": "Bayesian", "random": "Random", "grid": "Grid", "hyperband": "Hyperband"}
EARLY_STOPPING = {"auto": "Auto", "off": "Off"}
TERMINAL_STATUSES = ("Completed", "Failed", "Stopped")
TUNING_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
OVERLAY_HEADER = (
    "# written by `mlops tune --write-best`: the hyperparameters of {trial}, the best trial of tuning job {job}\n"
)
OVERLAY_MARK = "# written by `mlops tune --write-best`"
LIST_PAGE = 100
MAX_SEED = 2**31 - 1  # RandomSeed: botocore's model says an integer >= 0; AWS reads a 32-bit signed integer


@dataclass
class TuneSettings:
    """The tuning job's own settings: config's `tune:` section with the flags applied, checked."""

    strategy: str  # bayesian, random, grid, hyperband
    objective: Objective
    max_jobs: int
    parallel: int
    early_stopping: str  # auto, off
    ranges: list[ParameterRange]
    warm_start: list[str]
    seed: int | None = None  # RandomSeed: the same seed, the same values for the same results


def settings(
    config: Config,
    *,
    strategy: str | None = None,
    objective: str | None = None,
    max_jobs: int | None = None,
    parallel: int | None = None,
    early_stopping: str | None = None,
    ranges: list[str] | None = None,
    warm_start: list[str] | None = None,
    seed: int | None = None,
) -> TuneSettings:
    """Config's `tune:` section overridden by flags; a bad flag is a UsageError naming it (exit 2)."""
    tune = config.tune
    if strategy is not None and strategy not in STRATEGIES:
        raise UsageError(f"--strategy {strategy}: expected one of {', '.join(STRATEGIES)}")
    if early_stopping is not None and early_stopping not in EARLY_STOPPING:
        raise UsageError(f"--early-stopping {early_stopping}: expected auto or off")
    for flag, value in (("--max-jobs", max_jobs), ("--parallel", parallel)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} {value}: expected a positive number")
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed {seed}: expected 0 to {MAX_SEED}")
    try:  # the config's objective was checked when the config loaded
        chosen_objective = parse_objective(objective if objective is not None else tune.objective)
    except RangeError as exc:
        raise UsageError(f"--objective {objective}: {exc}") from None
    if ranges:
        chosen: dict[str, ParameterRange] = {}
        for item in ranges:
            try:
                parsed = parse_range_flag(item)
            except RangeError as exc:
                raise UsageError(f"--range {item}: {exc}") from None
            chosen[parsed.name] = parsed  # a later --range for the same name wins
        chosen_ranges = list(chosen.values())
    else:
        chosen_ranges = [parse_range(name, spec) for name, spec in tune.ranges.items()]
    result = TuneSettings(
        strategy or tune.strategy,
        chosen_objective,
        max_jobs or tune.max_jobs,
        parallel or tune.parallel,
        early_stopping or tune.early_stopping,
        chosen_ranges,
        list(warm_start or []),
        seed,
    )
    _check_strategy(result)
    for parent in result.warm_start:
        check_tuning_name(parent, "--warm-start")
    if len(result.warm_start) > 5:
        raise UsageError("--warm-start: at most 5 parent tuning jobs (SageMaker's limit)")
    return result


def _check_strategy(tune: TuneSettings) -> None:
    """SageMaker's rules between strategy, ranges and early stopping, checked before anything is sent."""
    if tune.strategy == "grid":
        numeric = [item.name for item in tune.ranges if item.kind != "Categorical"]
        if numeric:
            raise UsageError(
                f"--strategy grid: every range must be categorical (a,b,c); {', '.join(numeric)} is LOW:HIGH"
            )
    if tune.strategy == "hyperband" and tune.early_stopping == "auto":
        raise UsageError(
            "--early-stopping auto: the hyperband strategy stops trials itself; use --early-stopping off with it"
        )
    if tune.parallel > tune.max_jobs and tune.strategy != "grid":
        raise UsageError(f"--parallel {tune.parallel}: more than --max-jobs ({tune.max_jobs})")


def check_tuning_name(name: str, flag: str = "--job-name") -> str:
    if len(name) > 32 or not TUNING_NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"{flag} '{name}': a tuning job name is 1-32 letters, digits and hyphens, starting and "
            "ending with a letter or digit"
        )
    return name


def default_name(config: Config, now: float | None = None) -> str:
    """`<project>-YYmmddHHMMSS` within the 32 characters SageMaker allows tuning job names."""
    stamp = time.strftime("%y%m%d%H%M%S", time.gmtime(now if now is not None else time.time()))
    return f"{config.project[: 32 - len(stamp) - 1].rstrip('-')}-{stamp}"


def grid_size(ranges: list[ParameterRange]) -> int:
    size = 1
    for item in ranges:
        size *= len(item.values)
    return size


def tuning_request(config: Config, tune: TuneSettings, *, job_name: str, definition: dict[str, Any]) -> dict:
    """The CreateHyperParameterTuningJob parameters, around a training job definition (`training.job_definition`)."""
    definition = dict(definition)
    encoded = definition.pop("HyperParameters")
    tuned = {item.name for item in tune.ranges}
    definition["StaticHyperParameters"] = {key: value for key, value in encoded.items() if key not in tuned}
    limits: dict[str, int] = {"MaxParallelTrainingJobs": tune.parallel}
    if tune.strategy != "grid":  # grid runs every combination: SageMaker counts them itself
        limits = {"MaxNumberOfTrainingJobs": tune.max_jobs, **limits}
    job_config: dict[str, Any] = {
        "Strategy": STRATEGIES[tune.strategy],
        "HyperParameterTuningJobObjective": tune.objective.to_aws(),
        "ResourceLimits": limits,
        "ParameterRanges": parameter_ranges(tune.ranges),
        "TrainingJobEarlyStoppingType": EARLY_STOPPING[tune.early_stopping],
    }
    if tune.seed is not None:
        job_config["RandomSeed"] = tune.seed
    if tune.strategy == "hyperband":  # the resource is epochs: the engine reports the objective every epoch
        job_config["StrategyConfig"] = {
            "HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": config.train.hyperparameters.epochs}
        }
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": job_name,
        "HyperParameterTuningJobConfig": job_config,
        "TrainingJobDefinition": definition,
        "Tags": naming.tags(config),
    }
    if tune.warm_start:
        request["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": name} for name in tune.warm_start],
            "WarmStartType": "IdenticalDataAndAlgorithm",
        }
    return request


def plan_tuning(
    config: Config,
    tune: TuneSettings,
    *,
    account_id: Callable[[], str],
    partition: str = "aws",
    job_name: str | None = None,
) -> training.TrainingLaunch:
    """The tuning launch: the same role steps and source upload as `mlops train`, then the tuning job."""
    name = check_tuning_name(job_name) if job_name else default_name(config)
    inputs = training.job_inputs(config, account_id=account_id, partition=partition)
    definition = training.job_definition(
        config, job_name=name, image=inputs.image, role_arn=inputs.role_arn, submit_directory=inputs.source_uri
    )
    request = tuning_request(config, tune, job_name=name, definition=definition)
    return training.plan_launch(
        inputs,
        title=f"tune {name}",
        operation="CreateHyperParameterTuningJob",
        request=request,
        job_name=name,
        warnings=training.entry_point_warnings(definition, inputs),
    )


# --- following a tuning job ------------------------------------------------------------------------------


@sends("sagemaker", "DescribeHyperParameterTuningJob")
def describe_tuning(sagemaker: Any, name: str) -> dict[str, Any]:
    description = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    description.pop("ResponseMetadata", None)
    return description


@sends("sagemaker", "ListTrainingJobsForHyperParameterTuningJob")
def list_trials(sagemaker: Any, name: str) -> list[dict[str, Any]]:
    """Every training job the tuning job launched (ListTrainingJobsForHyperParameterTuningJob, all pages)."""
    trials: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "MaxResults": LIST_PAGE,
        "SortBy": "CreationTime",
        "SortOrder": "Ascending",
    }
    while True:
        page = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
        trials.extend(page.get("TrainingJobSummaries", []))
        if not page.get("NextToken"):
            return trials
        kwargs["NextToken"] = page["NextToken"]


@dataclass
class TuningSnapshot:
    description: dict[str, Any]
    trials: list[dict[str, Any]]

    @property
    def status(self) -> str:
        return self.description["HyperParameterTuningJobStatus"]

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


@sends_via(describe_tuning, list_trials)
def snapshot(sagemaker: Any, name: str) -> TuningSnapshot:
    return TuningSnapshot(describe_tuning(sagemaker, name), list_trials(sagemaker, name))


@sends_via(snapshot)
def follow_tuning(
    sagemaker: Any, name: str, *, poll_s: float = 10.0, sleep: Callable[[float], None] = time.sleep
) -> Iterator[TuningSnapshot]:
    """The tuning job and its trials every `poll_s` until it ends (the last snapshot is the final one)."""
    while True:
        current = snapshot(sagemaker, name)
        yield current
        if current.finished:
            return
        sleep(poll_s)


def _decoded(values: dict[str, str] | None) -> dict[str, Any]:
    return training.decode_hyperparameters(values or {})


def trial_row(summary: dict[str, Any]) -> dict[str, Any]:
    final = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    return {
        "name": summary["TrainingJobName"],
        "status": summary["TrainingJobStatus"],
        "values": _decoded(summary.get("TunedHyperParameters")),
        "objective": final.get("Value"),
        "objective_status": summary.get("ObjectiveStatus"),
        "failure_reason": summary.get("FailureReason") or None,
    }


def best_summary(description: dict[str, Any]) -> dict[str, Any] | None:
    """The best trial AWS reports: after a warm start on identical data and algorithm, the best of this job's and
    its parents' trials (OverallBestTrainingJob), else the best of this job's (BestTrainingJob)."""
    return description.get("OverallBestTrainingJob") or description.get("BestTrainingJob")


def result_document(current: TuningSnapshot, best_description: dict[str, Any] | None = None) -> dict[str, Any]:
    """`mlops tune`'s result: the tuning job, AWS's counts, the best trial (of its parents' too, after a warm
    start) and every trial."""
    description = current.description
    job_config = description.get("HyperParameterTuningJobConfig", {})
    objective = job_config.get("HyperParameterTuningJobObjective", {})
    best = best_summary(description)
    document: dict[str, Any] = {
        "tuning_job": description["HyperParameterTuningJobName"],
        "status": current.status,
        "strategy": job_config.get("Strategy"),
        "objective": {"name": objective.get("MetricName"), "type": objective.get("Type")},
        "counts": {
            "training_jobs": description.get("TrainingJobStatusCounters", {}),
            "objectives": description.get("ObjectiveStatusCounters", {}),
        },
        "best": None,
        "trials": [trial_row(summary) for summary in current.trials],
    }
    if description.get("FailureReason"):
        document["failure_reason"] = description["FailureReason"]
    if best:
        final = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        document["best"] = {
            "training_job": best["TrainingJobName"],
            "tuning_job": best.get("TuningJobName") or description["HyperParameterTuningJobName"],
            "objective": {"name": final.get("MetricName", objective.get("MetricName")), "value": final.get("Value")},
            "hyperparameters": _decoded(best.get("TunedHyperParameters")),
            "metrics": {
                item["MetricName"]: item["Value"] for item in (best_description or {}).get("FinalMetricDataList") or []
            },
            "model_artifact": ((best_description or {}).get("ModelArtifacts") or {}).get("S3ModelArtifacts"),
        }
    return document


@sends_via(training.JobLogReader)
def objective_curves(logs: Any, current: TuningSnapshot) -> dict[str, list[float]]:
    """Each trial's objective after every epoch, read from its log (the leader's lines, `algo-1`) through the
    metric definitions, as SageMaker reads them."""
    definition = current.description.get("TrainingJobDefinition") or {}
    definitions = (definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
    objective = current.description["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"]
    chosen = [item for item in definitions if item["Name"] == objective]
    curves: dict[str, list[float]] = {}
    for trial in current.trials:
        name = trial["TrainingJobName"]
        lines = training.JobLogReader(logs, name).read_new()
        curves[name] = [
            value
            for line in lines
            if line.host == "algo-1"
            and (value := job_logs.metric_values(line.message, chosen).get(objective)) is not None
        ]
    return curves


@sends_via(describe_tuning)
def best_trial_name(sagemaker: Any, name: str) -> str:
    """The tuning job's BestTrainingJob; UsageError when there is no such tuning job or no best trial yet."""
    from botocore.exceptions import ClientError

    try:
        description = describe_tuning(sagemaker, name)
    except ClientError as exc:
        if error_code(exc) in ("ResourceNotFound", "ValidationException"):
            raise UsageError(f"--tuning-job {name}: no such tuning job") from None
        raise
    best = best_summary(description)
    if not best:
        raise UsageError(
            f"--tuning-job {name}: no trial has finished with an objective yet "
            f"(status {description['HyperParameterTuningJobStatus']})"
        )
    return best["TrainingJobName"]


@sends("sagemaker", "StopHyperParameterTuningJob")
def stop_tuning(sagemaker: Any, name: str) -> None:
    sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def stop_command(name: str) -> str:
    return f"aws sagemaker stop-hyper-parameter-tuning-job --hyper-parameter-tuning-job-name {name}"


# --- the best values as a config overlay -----------------------------------------------------------------


def best_overlay(values: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters -> `{train: {hyperparameters: ...}, model: ...}`, each under the section it comes from (the
    script-mode keys, which are no config settings, left out)."""
    overlay: dict[str, Any] = {}
    for name, value in sorted(values.items()):
        section = training.HYPERPARAMETER_SECTIONS.get(name)
        if section is None:
            continue
        node = overlay
        for key in section.split("."):
            node = node.setdefault(key, {})
        node[name] = value
    return overlay


def write_overlay(path: Path, job: str, trial: str, values: dict[str, Any]) -> None:
    """Write the overlay atomically; refuse to replace a file `--write-best` did not write. `values` are every
    hyperparameter the best trial ran with (the tuned ones and the static ones, `--hp` overrides included), so
    that training with the overlay reproduces that trial."""
    import yaml

    from mlops_cli.files import write_atomically

    check_overlay_target(path)
    text = OVERLAY_HEADER.format(job=job, trial=trial) + yaml.safe_dump(best_overlay(values), sort_keys=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda stream: stream.write(text.encode("utf-8")))


def check_overlay_target(path: Path) -> None:
    """Before launching: a `--write-best` target we may not replace fails now, not after the tuning job."""
    if path.exists() and (not path.is_file() or not path.read_text(errors="replace").startswith(OVERLAY_MARK)):
        raise UsageError(
            f"--write-best {path}: exists and was not written by `mlops tune --write-best`; choose another file"
        )
