"""Hyperparameter tuning jobs that really run: every trial is a real local training job.

moto records CreateHyperParameterTuningJob and would answer Describe/List with a fixed, finished job (a fake best
trial). Here a tuner thread per tuning job drives moto's own object through the real lifecycle (InProgress ->
Completed | Failed | Stopping -> Stopped) and launches the trials through this server's own CreateTrainingJob
(training_runner.py runs them), at most MaxParallelTrainingJobs at a time, up to MaxNumberOfTrainingJobs, with
the values and the early stopping of tuning_strategies.py (Hyperband's rungs and MaxResource, or the median rule).
The per-epoch objective values come from the trial's log through its MetricDefinitions, as on AWS. The tuner keeps
the trials' final objective, TrainingJobStatusCounters, ObjectiveStatusCounters, BestTrainingJob and, after a warm
start on identical data and algorithm, OverallBestTrainingJob on the job's record as
DescribeHyperParameterTuningJob reports them, and the trials' summaries that
ListTrainingJobsForHyperParameterTuningJob lists (tuning_requests.py).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.common import parameter_ranges
from mlops_cli.common.job_logs import JobLogReader, metric_values
from mlops_cli.local.core.server import ServerContext
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.records import utcnow
from mlops_cli.local.sagemaker.script_mode import LOG_GROUP
from mlops_cli.local.sagemaker.tuning_jobs import list_summary, save_tuning_job
from mlops_cli.local.sagemaker.tuning_strategies import (
    GridChooser,
    bayesian_chooser,
    hyperband_chooser,
    median_rule_stops,
    random_chooser,
    worse,
)

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


class LocalTuningJob:
    def __init__(self, context: ServerContext, account: str, region: str, params: dict[str, Any]):
        self.context = context
        self.account = account
        self.region = region
        self.name: str = params["HyperParameterTuningJobName"]
        job = records.tuning_job(account, region, self.name)
        if job is None:  # CreateHyperParameterTuningJob recorded it before the tuner starts
            raise KeyError(f"no tuning job {self.name}")
        self.job: records.TuningJob = job
        self.params = params
        job_config = params["HyperParameterTuningJobConfig"]
        self.definition: dict[str, Any] = params["TrainingJobDefinition"]
        objective = job_config.get("HyperParameterTuningJobObjective") or {}
        self.metric: str | None = objective.get("MetricName")
        self.maximize = objective.get("Type") == "Maximize"
        self.strategy = job_config["Strategy"]
        ranges = parameter_ranges.from_aws(job_config.get("ParameterRanges") or {})
        limits = job_config["ResourceLimits"]
        self.parallel = int(limits["MaxParallelTrainingJobs"])
        self.median_rule = job_config.get("TrainingJobEarlyStoppingType") == "Auto"
        self.max_resource: int | None = None  # Hyperband: a trial is stopped after this many epochs
        seed = job_config.get("RandomSeed")
        if self.strategy == "Grid":
            self.chooser: Any = GridChooser(ranges)
            self.max_jobs = min(self.chooser.size, int(limits.get("MaxNumberOfTrainingJobs") or self.chooser.size))
        else:
            self.max_jobs = int(limits["MaxNumberOfTrainingJobs"])
            history = [(values, value) for _, values, value in self._parent_trials()]
            if self.strategy == "Hyperband":
                min_resource, self.max_resource = hyperband_resources(job_config, self.definition)
                self.chooser = hyperband_chooser(
                    ranges,
                    seed,
                    self.maximize,
                    history,
                    min_resource=min_resource,
                    max_resource=self.max_resource,
                    name=self.name,
                )
            else:
                make = bayesian_chooser if self.strategy == "Bayesian" else random_chooser
                self.chooser = make(ranges, seed, self.maximize, history)
        warm_start = params.get("WarmStartConfig") or {}
        # AWS reports the best of this job's and its parents' trials only for identical data and algorithm.
        self.reports_overall_best = warm_start.get("WarmStartType") == "IdenticalDataAndAlgorithm"
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

    def request_stop(self) -> None:
        """StopHyperParameterTuningJob: Stopping, and every running trial is asked to stop."""
        self._save(hyper_parameter_tuning_job_status="Stopping")
        self.stop_requested.set()
        self._stop_running()

    def _parent_trials(self) -> list[tuple[dict[str, Any], dict[str, str], float]]:
        """The warm start parents' trials with this job's objective: (summary, tuned values, final value)."""
        parents = (self.params.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs") or []
        found = []
        for parent in parents:
            job = records.tuning_job(self.account, self.region, parent.get("HyperParameterTuningJobName") or "")
            for summary in records.trials(job) if job else []:
                final = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
                if final and final.get("MetricName") == self.metric:
                    found.append((summary, summary["TunedHyperParameters"], final["Value"]))
        return found

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
            job = records.training_job(self.account, self.region, trial.name)
            if job is not None:
                trial.status = job.training_job_status
            self._read_metrics(trial)
            if trial.status in TRIAL_TERMINAL:
                trial.objective = self._final_objective(trial, job)
                if not trial.told:
                    self.chooser.tell(trial.token, trial.objective)
                    trial.told = True
            elif trial.status == "InProgress" and self._stops_early(trial):
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

    def _final_objective(self, trial: Trial, job: records.TrainingJob | None) -> float | None:
        final = {item["MetricName"]: item["Value"] for item in getattr(job, "final_metric_data_list", None) or []}
        value = final.get(self.metric, trial.history[-1] if trial.history else None)
        if value is None or not math.isfinite(float(value)):
            return None
        return float(value)

    def _stops_early(self, trial: Trial) -> bool:
        """After each new epoch: the median rule (early stopping Auto), or Hyperband's rungs and MaxResource."""
        if len(trial.history) <= trial.checked_epochs:
            return False
        new = trial.history[trial.checked_epochs :]
        trial.checked_epochs = len(trial.history)
        if self.median_rule:
            earlier = [other.history for other in self.trials[: self.trials.index(trial)]]
            return median_rule_stops(trial.history, earlier, self.maximize)
        if self.max_resource is None:
            return False
        first = len(trial.history) - len(new) + 1
        for epoch, value in enumerate(new, start=first):
            if not math.isfinite(value) or self.chooser.stops(trial.token, epoch, value):
                return True
        # At MaxResource a trial that would train on is stopped; one that ends there is left to complete.
        planned = planned_epochs({**(self.definition.get("StaticHyperParameters") or {}), **trial.values})
        return len(trial.history) >= self.max_resource and (planned is None or planned > self.max_resource)

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
        overall = None
        if self.reports_overall_best:
            candidates = [summary for summary, _, _ in self._parent_trials()]
            candidates += [self._summary(best)] if best else []
            overall = best_summary(candidates, self.maximize)
        self._save(
            OverallBestTrainingJob=list_summary(self.account, self.region, overall) if overall else None,
            training_job_status_counters=counters,
            objective_status_counters=objectives,
            mlops_trials=summaries,
            last_modified_time=utcnow(),
            best_training_job=list_summary(self.account, self.region, self._summary(best)) if best else None,
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
            hyper_parameter_tuning_end_time=utcnow(),
            failure_reason=failure_reason,
            hyper_parameter_tuning_job_status=status,
            last_modified_time=utcnow(),
        )


def best_summary(summaries: list[dict[str, Any]], maximize: bool) -> dict[str, Any] | None:
    """The trial summary with the best final objective (the first of equals)."""
    best = None
    for summary in summaries:
        value = summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        if best is None or worse(best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"], value, maximize):
            best = summary
    return best


EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")  # where AWS infers MaxResource from


def planned_epochs(hyperparameters: dict[str, str]) -> int | None:
    """The epochs a training job's hyperparameters ask for (the first of EPOCH_KEYS), or None."""
    import json

    for key in EPOCH_KEYS:
        if key in hyperparameters:
            try:
                return int(json.loads(hyperparameters[key]))
            except (TypeError, ValueError):
                return None
    return None


def hyperband_resources(job_config: dict[str, Any], definition: dict[str, Any]) -> tuple[int, int]:
    """Hyperband's MinResource and MaxResource (epochs); MaxResource, when not given, from the static epochs
    hyperparameter as AWS infers it. ValueError with SageMaker's reason when there is none."""
    config = (job_config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    maximum = config.get("MaxResource")
    if maximum is None:
        maximum = planned_epochs(definition.get("StaticHyperParameters") or {})
    if maximum is None:
        raise ValueError(
            "MaxResource could not be inferred from the StaticHyperParameters (epochs, numepochs, n-epochs, "
            "n_epochs, num_epochs): give HyperbandStrategyConfig.MaxResource"
        )
    minimum = int(config.get("MinResource") or 1)
    if not 1 <= minimum <= int(maximum) <= 20_000:
        raise ValueError("HyperbandStrategyConfig needs 1 <= MinResource <= MaxResource <= 20000")
    return minimum, int(maximum)


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

    def shutdown(self) -> None:
        with self.lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            job.stop_requested.set()
        for job in jobs:
            job.thread.join(timeout=1)  # its trials end with the training runner's shutdown
