"""Hyperparameter tuning jobs that really run: every trial is a real local training job.

moto records CreateHyperParameterTuningJob and answers Describe/List with a fixed, finished job (a fake best
trial); it has no ListTrainingJobsForHyperParameterTuningJob or StopHyperParameterTuningJob. Here a tuner thread
per tuning job drives moto's own object through the real lifecycle (InProgress -> Completed | Failed | Stopping ->
Stopped) and launches the trials through this server's own CreateTrainingJob (sagemaker/training_runner.py runs
them), at most MaxParallelTrainingJobs at a time, up to MaxNumberOfTrainingJobs:

- values: Random and Grid exactly as SageMaker documents them; Bayesian by Optuna's TPE sampler (warm start
  parents' results seed it); Hyperband samples randomly and stops trials by the median rule below;
- early stopping (`Auto`, and Hyperband): SageMaker's median rule. After each epoch's objective value, a trial is
  stopped when that value is worse than the median of the running averages of the earlier trials' objective up
  to the same epoch. The per-epoch values come from the trial's log through its MetricDefinitions, as on AWS;
- the trials' final objective, TrainingJobStatusCounters, ObjectiveStatusCounters and BestTrainingJob as
  DescribeHyperParameterTuningJob reports them, and TrainingJobSummaries for ListTrainingJobsForHyperParameter-
  TuningJob (what `aws sagemaker list-training-jobs-for-hyper-parameter-tuning-job` shows).
"""

from __future__ import annotations

import itertools
import math
import random
import secrets
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse, ServerContext
from mlops_cli.local.logs.reader import JobLogReader
from mlops_cli.local.sagemaker.ranges import ParameterRange, ranges_from_request
from mlops_cli.local.sagemaker.script_mode import LOG_GROUP, metric_values

POLL_S = 1.0  # each poll reads every running trial's log: keep the server's own load small
TRIAL_TERMINAL = ("Completed", "Failed", "Stopped")
# Members of a tuning job's TrainingJobDefinition that CreateTrainingJob takes as they are.
TRAINING_MEMBERS = (
    "RoleArn",
    "InputDataConfig",
    "VpcConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "RetryStrategy",
    "Environment",
)
DEFAULT_LIST_RESULTS = 10


class TuningJobs:
    """CreateHyperParameterTuningJob runs the tuner here; Stop stops it; the trials are listed from its records."""

    def __init__(self, context: ServerContext):
        self.tuner = LocalTuner(context)

    def create(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        problem = request_problem(params)
        if problem:
            return LocalResponse.aws_error("ValidationException", problem)
        response = forward(request)  # moto records it (and refuses a name in use)
        if response.status == 200:
            self.tuner.start(request.account, request.region, params)
        return response

    def stop(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        return self.tuner.stop(request.account, request.region, request.json().get("HyperParameterTuningJobName", ""))

    def list_trials(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        return list_training_jobs(request.account, request.region, request.json())


def save_tuning_job(context: ServerContext, account: str, region: str, name: str, attributes: dict[str, Any]) -> None:
    context.store.call(
        "moto.set",
        {"path": ("sagemaker", account, region, "hyper_parameter_tuning_jobs", name), "attributes": attributes},
    )


def fail_interrupted_tuning_jobs(context: ServerContext) -> None:
    """After a restart: a tuning job that was running lost its tuner (and its trials their processes, which
    sagemaker/training_jobs.py fails); it is Failed with the reason, as a job is never left hanging."""
    from mlops_cli.local import moto_compat

    for account, region, backend in moto_compat.backends("sagemaker"):
        for name, job in list(backend.hyper_parameter_tuning_jobs.items()):
            if job.hyper_parameter_tuning_job_status in ("InProgress", "Stopping"):
                save_tuning_job(
                    context,
                    account,
                    region,
                    name,
                    {
                        "hyper_parameter_tuning_job_status": "Failed",
                        "hyper_parameter_tuning_end_time": _now(),
                        "last_modified_time": _now(),
                        "failure_reason": (
                            "InternalServerError: the local AWS restarted while the tuning job was running"
                        ),
                    },
                )


def _backend(account: str, region: str) -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.backend("sagemaker", account, region)


def _now() -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.utcnow()


def request_problem(params: dict[str, Any]) -> str | None:
    """SageMaker's rules that the service model alone does not carry (and what the local tuner needs)."""
    job_config = params.get("HyperParameterTuningJobConfig") or {}
    definition = params.get("TrainingJobDefinition")
    if not definition:
        return "TrainingJobDefinition is required (TrainingJobDefinitions is not supported by the local AWS)"
    try:
        ranges = ranges_from_request(job_config.get("ParameterRanges") or {})
    except (KeyError, TypeError, ValueError) as exc:
        return f"ParameterRanges: {exc}"
    static = definition.get("StaticHyperParameters") or {}
    for item in ranges:
        if item.name in static:
            return f"Hyperparameter {item.name} is both static and tunable"
        if item.kind != "Categorical":
            if not item.low < item.high:
                return f"MinValue must be less than MaxValue for {item.name}"
            if item.scale in ("Logarithmic", "ReverseLogarithmic") and item.low <= 0:
                return f"Logarithmic scaling requires values greater than 0 for {item.name}"
    strategy = job_config.get("Strategy")
    if strategy == "Grid" and any(item.kind != "Categorical" for item in ranges):
        return "Grid search strategy supports only categorical parameter ranges"
    if strategy == "Hyperband" and job_config.get("TrainingJobEarlyStoppingType") == "Auto":
        return "TrainingJobEarlyStoppingType must be Off when the Hyperband strategy is used"
    # Limits of the local tuner, not AWS rules (AWS can also stop on completion criteria or a runtime).
    if strategy != "Grid" and not (job_config.get("ResourceLimits") or {}).get("MaxNumberOfTrainingJobs"):
        return f"the local AWS needs ResourceLimits.MaxNumberOfTrainingJobs for the {strategy} strategy"
    objective = job_config.get("HyperParameterTuningJobObjective")
    if strategy != "Grid" and not objective:
        return f"the local AWS needs a HyperParameterTuningJobObjective for the {strategy} strategy"
    if objective:
        names = {
            item.get("Name") for item in (definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
        }
        if objective.get("MetricName") not in names:
            return f"The objective metric {objective.get('MetricName')} is not among the MetricDefinitions"
    return None


# --- choosing values -------------------------------------------------------------------------------------


def _number_text(item: ParameterRange, value: float) -> str:
    return str(int(round(value))) if item.kind == "Integer" else repr(float(value))


class RandomChooser:
    """Uniform on the range's scale (log: uniform in log space); categorical uniformly."""

    def __init__(self, ranges: list[ParameterRange], seed: int | None):
        self.ranges = ranges
        self.rng = random.Random(seed)

    def _one(self, item: ParameterRange) -> str:
        if item.kind == "Categorical":
            return self.rng.choice(item.values)
        if item.scale == "Logarithmic":
            value = math.exp(self.rng.uniform(math.log(item.low), math.log(item.high)))
        else:
            value = self.rng.uniform(item.low, item.high)
        return _number_text(item, min(max(value, item.low), item.high))

    def ask(self) -> tuple[dict[str, str], Any]:
        return {item.name: self._one(item) for item in self.ranges}, None

    def tell(self, token: Any, value: float | None) -> None:
        return None


class GridChooser:
    """Every combination of the categorical values, each once, in order."""

    def __init__(self, ranges: list[ParameterRange]):
        self.combinations: Iterator[tuple[str, ...]] = itertools.product(*(item.values for item in ranges))
        self.names = [item.name for item in ranges]
        self.size = math.prod(len(item.values) for item in ranges)

    def ask(self) -> tuple[dict[str, str], Any] | None:
        combination = next(self.combinations, None)
        return None if combination is None else (dict(zip(self.names, combination, strict=True)), None)

    def tell(self, token: Any, value: float | None) -> None:
        return None


class BayesianChooser:
    """Optuna's TPE sampler (ask/tell), minimising or maximising the objective."""

    def __init__(
        self,
        ranges: list[ParameterRange],
        seed: int | None,
        maximize: bool,
        history: list[tuple[dict[str, str], float]],
    ):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.ranges = ranges
        self.study = optuna.create_study(
            direction="maximize" if maximize else "minimize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        distributions = {item.name: self._distribution(item) for item in ranges}
        for values, objective in history:  # warm start: the parents' trials inform the sampler
            params = {}
            for item in ranges:
                if item.name not in values:
                    break
                raw = values[item.name]
                params[item.name] = raw if item.kind == "Categorical" else float(raw)
            else:
                if all(
                    distributions[name]._contains(distributions[name].to_internal_repr(value))
                    for name, value in params.items()
                ):
                    self.study.add_trial(
                        optuna.trial.create_trial(params=params, distributions=distributions, value=objective)
                    )

    def _distribution(self, item: ParameterRange) -> Any:
        distributions = self.optuna.distributions
        if item.kind == "Categorical":
            return distributions.CategoricalDistribution(list(item.values))
        log = item.scale == "Logarithmic"
        if item.kind == "Integer":
            return distributions.IntDistribution(int(item.low), int(item.high), log=log)
        return distributions.FloatDistribution(item.low, item.high, log=log)

    def ask(self) -> tuple[dict[str, str], Any]:
        trial = self.study.ask({item.name: self._distribution(item) for item in self.ranges})
        values = {}
        for item in self.ranges:
            value = trial.params[item.name]
            values[item.name] = value if item.kind == "Categorical" else _number_text(item, value)
        return values, trial

    def tell(self, token: Any, value: float | None) -> None:
        if value is None:
            self.study.tell(token, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(token, value)


# --- the tuner -------------------------------------------------------------------------------------------


@dataclass
class Trial:
    name: str
    values: dict[str, str]
    token: Any
    reader: JobLogReader
    history: list[float] = field(default_factory=list)  # the objective after each epoch
    status: str = "InProgress"
    objective: float | None = None
    told: bool = False
    checked_epochs: int = 0  # epochs the median rule has looked at
    listed: bool = False  # its training job exists (or was refused): ListTrainingJobsFor... shows it
    failure: str | None = None  # CreateTrainingJob's refusal
    stop_sent: bool = False

    @property
    def ended(self) -> bool:
        return self.status in TRIAL_TERMINAL


def running_averages(history: list[float]) -> list[float]:
    return [sum(history[: index + 1]) / (index + 1) for index in range(len(history))]


def worse(value: float, than: float, maximize: bool) -> bool:
    if math.isnan(value):
        return True
    return value < than if maximize else value > than


def median_rule_stops(trial: Trial, earlier: list[Trial], maximize: bool) -> bool:
    """SageMaker's median stopping rule at the trial's latest epoch."""
    epoch = len(trial.history)
    if epoch == 0:
        return False
    averages = [running_averages(other.history)[epoch - 1] for other in earlier if len(other.history) >= epoch]
    averages = [value for value in averages if not math.isnan(value)]
    if not averages:
        return False
    return worse(trial.history[-1], statistics.median(averages), maximize)


class LocalTuningJob:
    def __init__(self, context: ServerContext, account: str, region: str, params: dict[str, Any]):
        self.context = context
        self.account = account
        self.region = region
        self.name: str = params["HyperParameterTuningJobName"]
        self.job = _backend(account, region).hyper_parameter_tuning_jobs[self.name]
        self.backend = _backend(account, region)
        self.params = params
        job_config = params["HyperParameterTuningJobConfig"]
        self.definition: dict[str, Any] = params["TrainingJobDefinition"]
        objective = job_config.get("HyperParameterTuningJobObjective") or {}
        self.metric: str | None = objective.get("MetricName")
        self.maximize = objective.get("Type") == "Maximize"
        self.strategy = job_config["Strategy"]
        ranges = ranges_from_request(job_config.get("ParameterRanges") or {})
        limits = job_config["ResourceLimits"]
        self.parallel = int(limits["MaxParallelTrainingJobs"])
        self.early_stopping = job_config.get("TrainingJobEarlyStoppingType") == "Auto" or self.strategy == "Hyperband"
        seed = job_config.get("RandomSeed")
        if self.strategy == "Grid":
            self.chooser: Any = GridChooser(ranges)
            self.max_jobs = min(self.chooser.size, int(limits.get("MaxNumberOfTrainingJobs") or self.chooser.size))
        else:
            self.max_jobs = int(limits["MaxNumberOfTrainingJobs"])
            self.chooser = (
                BayesianChooser(ranges, seed, self.maximize, self._parent_history())
                if self.strategy == "Bayesian"
                else RandomChooser(ranges, seed)
            )
        self.definitions = (self.definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
        self.trials: list[Trial] = []
        self.best: Trial | None = None
        self.stop_requested = threading.Event()
        self.started = time.time()
        self.thread = threading.Thread(target=self.run, name=f"tuning-{self.name}", daemon=True)
        # moto marks the job Completed at once, with a made-up best trial: start from the truth instead.
        self._save(
            hyper_parameter_tuning_job_status="InProgress",
            hyper_parameter_tuning_end_time=None,
            best_training_job=None,
            OverallBestTrainingJob=None,
            tuning_job_completion_details=None,
            consumed_resources=None,
            failure_reason=None,
            mlops_trials=[],
        )  # TrainingJobSummaries' own fields, read by list_training_jobs
        self._publish()

    def _save(self, **attributes: Any) -> None:
        """The one place that changes moto's record of the tuning job (what Describe and List answer), durably
        (the local AWS's journal), and only when something changed: the tuner publishes every poll."""
        changed = {
            name: value
            for name, value in attributes.items()
            if name == "last_modified_time" or getattr(self.job, name, None) != value
        }
        if set(changed) - {"last_modified_time"}:
            save_tuning_job(self.context, self.account, self.region, self.name, changed)

    def _parent_history(self) -> list[tuple[dict[str, str], float]]:
        parents = (self.params.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs") or []
        history = []
        for parent in parents:
            job = self.backend.hyper_parameter_tuning_jobs.get(parent.get("HyperParameterTuningJobName"))
            for summary in getattr(job, "mlops_trials", []) if job else []:
                final = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
                if final and final.get("MetricName") == self.metric:
                    history.append((summary["TunedHyperParameters"], final["Value"]))
        return history

    # --- the loop ---

    def run(self) -> None:
        try:
            while True:
                self._poll()
                running = [trial for trial in self.trials if not trial.ended]
                if self.stop_requested.is_set():
                    if not running:
                        self._finish("Stopped")
                        return
                    self._stop_running(only_new=True)  # a trial launched while the stop came in
                elif len(self.trials) < self.max_jobs and len(running) < self.parallel:
                    if self._launch():
                        continue
                    if not running:
                        self._finish_by_results()
                        return
                elif not running:
                    self._finish_by_results()
                    return
                time.sleep(POLL_S)
        except Exception as exc:  # the tuner itself broke: report it as SageMaker would, as a failed job
            self.stop_requested.set()
            self._stop_running()
            self._finish("Failed", f"InternalServerError: local tuner: {type(exc).__name__}: {exc}"[:1024])

    def _launch(self) -> bool:
        """Start the next trial; False when the strategy has no more values (a finished grid)."""
        chosen = self.chooser.ask()
        if chosen is None:
            self.max_jobs = len(self.trials)
            return False
        values, token = chosen
        name = f"{self.name}-{len(self.trials) + 1:03d}-{secrets.token_hex(4)}"
        request: dict[str, Any] = {
            "TrainingJobName": name,
            "AlgorithmSpecification": {
                key: value for key, value in (self.definition.get("AlgorithmSpecification") or {}).items()
            },
            "HyperParameters": {**(self.definition.get("StaticHyperParameters") or {}), **values},
            **{key: self.definition[key] for key in TRAINING_MEMBERS if key in self.definition},
            "Tags": self.params.get("Tags") or [],
        }
        checkpoint = self.definition.get("CheckpointConfig")
        if checkpoint:  # each trial its own checkpoint folder: trials must not resume each other
            request["CheckpointConfig"] = {**checkpoint, "S3Uri": f"{checkpoint['S3Uri'].rstrip('/')}/{name}"}
        trial = Trial(name, values, token, JobLogReader(self.context.client("logs", self.region), LOG_GROUP, name))
        self.trials.append(trial)
        try:
            self.context.client("sagemaker", self.region).create_training_job(**request)
        except Exception as exc:  # refused (e.g. a value the algorithm rejects): a failed trial, as on AWS
            trial.status, trial.failure = "Failed", str(exc)[:1024]
        trial.listed = True
        self._publish()
        return True

    def _poll(self) -> None:
        for trial in self.trials:
            if trial.ended and trial.told:
                continue
            job = self.backend.training_jobs.get(trial.name)
            if job is not None:
                trial.status = job.training_job_status
            self._read_metrics(trial)
            if trial.status in TRIAL_TERMINAL:
                trial.objective = self._final_objective(trial, job)
                if not trial.told:
                    self.chooser.tell(trial.token, trial.objective)
                    trial.told = True
            elif self.early_stopping and trial.status == "InProgress" and self._median_stops(trial):
                trial.stop_sent = True
                try:
                    self.context.client("sagemaker", self.region).stop_training_job(TrainingJobName=trial.name)
                except Exception:  # it ended meanwhile
                    pass
        self._publish()

    def _read_metrics(self, trial: Trial) -> None:
        if not self.metric:
            return
        for line in trial.reader.read_new():
            if line.host != "algo-1":  # the leader's metrics, as FinalMetricDataList has them
                continue
            value = metric_values(line.message, self.definitions).get(self.metric)
            if value is not None:
                trial.history.append(value)

    def _final_objective(self, trial: Trial, job: Any) -> float | None:
        final = {item["MetricName"]: item["Value"] for item in getattr(job, "final_metric_data_list", None) or []}
        value = final.get(self.metric, trial.history[-1] if trial.history else None)
        if value is None or not math.isfinite(float(value)):
            return None
        return float(value)

    def _median_stops(self, trial: Trial) -> bool:
        if len(trial.history) <= trial.checked_epochs:
            return False
        trial.checked_epochs = len(trial.history)
        earlier = self.trials[: self.trials.index(trial)]
        return median_rule_stops(trial, earlier, self.maximize)

    def _stop_running(self, only_new: bool = False) -> None:
        """StopTrainingJob for every running trial (`only_new`: those not asked yet)."""
        targets = [trial for trial in self.trials if not trial.ended and not (only_new and trial.stop_sent)]
        if targets:
            client = self.context.client("sagemaker", self.region)
        for trial in targets:
            trial.stop_sent = True
            try:
                client.stop_training_job(TrainingJobName=trial.name)
            except Exception:  # it ended meanwhile
                pass

    # --- what Describe/List answer ---

    def _summary(self, trial: Trial) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "TrainingJobName": trial.name,
            "TunedHyperParameters": dict(trial.values),
            "TuningJobName": self.name,
        }
        if trial.failure:
            summary["FailureReason"] = trial.failure
        if not trial.ended:
            summary["ObjectiveStatus"] = "Pending"
        elif trial.objective is None:
            summary["ObjectiveStatus"] = "Failed"
        else:
            summary["ObjectiveStatus"] = "Succeeded"
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": "Maximize" if self.maximize else "Minimize",
                "MetricName": self.metric,
                "Value": trial.objective,
            }
        return summary

    def _publish(self) -> None:
        """Counters, trial summaries and the best trial as DescribeHyperParameterTuningJob reports them."""
        counters = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
        objectives = {"Succeeded": 0, "Pending": 0, "Failed": 0}
        best: Trial | None = None
        for trial in self.trials:
            if trial.status in ("InProgress", "Stopping"):
                counters["InProgress"] += 1
            elif trial.status == "Failed":
                counters["NonRetryableError"] += 1
            else:
                counters[trial.status] += 1
            if not trial.ended:
                objectives["Pending"] += 1
            elif trial.objective is None:
                objectives["Failed"] += 1
            else:
                objectives["Succeeded"] += 1
                if best is None or worse(best.objective, trial.objective, self.maximize):  # type: ignore[arg-type]
                    best = trial
        summaries = [self._summary(trial) for trial in self.trials if trial.listed]
        self._save(
            training_job_status_counters=counters,
            objective_status_counters=objectives,
            mlops_trials=summaries,
            last_modified_time=_now(),
            best_training_job=list_summary(self.backend, self._summary(best)) if best else None,
        )
        self.best = best

    def _finish_by_results(self) -> None:
        if any(trial.objective is not None for trial in self.trials):
            self._finish("Completed")
        else:
            self._finish("Failed", "No training job succeeded: every trial failed or reported no objective metric")

    def _finish(self, status: str, failure_reason: str | None = None) -> None:
        self._publish()
        scored = [trial for trial in self.trials if trial.objective is not None]
        after_best = len(scored) - scored.index(self.best) - 1 if self.best in scored else 0
        self._save(
            tuning_job_completion_details={"NumberOfTrainingJobsObjectiveNotImproving": after_best},
            consumed_resources={"RuntimeInSeconds": max(1, math.ceil(time.time() - self.started))},
            hyper_parameter_tuning_end_time=_now(),
            failure_reason=failure_reason,
            hyper_parameter_tuning_job_status=status,
            last_modified_time=_now(),
        )


def list_summary(backend: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """A HyperParameterTrainingJobSummary: the tuner's fields plus the training job's own state."""
    job = backend.training_jobs.get(summary["TrainingJobName"])
    result = dict(summary)
    if job is None:  # CreateTrainingJob refused it
        result.update(
            {
                "TrainingJobArn": f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:"
                f"training-job/{summary['TrainingJobName']}",
                "CreationTime": _now(),
                "TrainingJobStatus": "Failed",
            }
        )
        return result
    result.update(
        {"TrainingJobArn": job.arn, "CreationTime": job.creation_time, "TrainingJobStatus": job.training_job_status}
    )
    for key, attribute in (
        ("TrainingStartTime", "training_start_time"),
        ("TrainingEndTime", "training_end_time"),
        ("FailureReason", "failure_reason"),
    ):
        value = getattr(job, attribute, None)
        if value:
            result[key] = value
    return result


def _epoch(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value or 0)


def list_training_jobs(account: str, region: str, params: dict[str, Any]) -> LocalResponse:
    backend = _backend(account, region)
    job = backend.hyper_parameter_tuning_jobs.get(params.get("HyperParameterTuningJobName", ""))
    if job is None:
        return LocalResponse.aws_error(
            "ResourceNotFound",
            f"Amazon SageMaker can't find a tuning job with name {params.get('HyperParameterTuningJobName', '')}",
        )
    summaries = [list_summary(backend, summary) for summary in getattr(job, "mlops_trials", [])]
    if params.get("StatusEquals"):
        summaries = [item for item in summaries if item["TrainingJobStatus"] == params["StatusEquals"]]
    sort_by = params.get("SortBy") or "Name"
    if sort_by == "FinalObjectiveMetricValue":
        summaries = [item for item in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in item]
    keys = {
        "Name": lambda item: item["TrainingJobName"],
        "CreationTime": lambda item: _epoch(item["CreationTime"]),
        "Status": lambda item: item["TrainingJobStatus"],
        "FinalObjectiveMetricValue": lambda item: item["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
    }
    summaries.sort(key=keys[sort_by], reverse=params.get("SortOrder") == "Descending")
    start = int(params["NextToken"]) if str(params.get("NextToken") or "").isdigit() else 0
    size = int(params.get("MaxResults") or DEFAULT_LIST_RESULTS)
    page = summaries[start : start + size]
    answer: dict[str, Any] = {
        "TrainingJobSummaries": [
            {key: _epoch(value) if key.endswith("Time") else value for key, value in item.items()} for item in page
        ]
    }
    if start + size < len(summaries):
        answer["NextToken"] = str(start + size)
    return LocalResponse.json(answer)


class LocalTuner:
    def __init__(self, context: ServerContext):
        self.context = context
        self.jobs: dict[str, LocalTuningJob] = {}
        self.lock = threading.Lock()

    def start(self, account: str, region: str, params: dict[str, Any]) -> None:
        job = LocalTuningJob(self.context, account, region, params)
        with self.lock:
            self.jobs[job.name] = job
        job.thread.start()

    def stop(self, account: str, region: str, name: str) -> LocalResponse:
        tuning_jobs = _backend(account, region).hyper_parameter_tuning_jobs
        if name not in tuning_jobs:
            return LocalResponse.aws_error(
                "ResourceNotFound", f"Amazon SageMaker can't find a tuning job with name {name}"
            )
        job = self.jobs.get(name)
        status = tuning_jobs[name].hyper_parameter_tuning_job_status
        if status != "InProgress" or job is None:
            return LocalResponse.aws_error(
                "ValidationException", f"The tuning job {name} is in status {status} and cannot be stopped"
            )
        job._save(hyper_parameter_tuning_job_status="Stopping")
        job.stop_requested.set()
        job._stop_running()
        return LocalResponse.json({})

    def shutdown(self) -> None:
        with self.lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            job.stop_requested.set()
        for job in jobs:
            job.thread.join(timeout=1)  # its trials end with the training runner's shutdown
