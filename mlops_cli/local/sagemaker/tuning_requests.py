"""The tuning requests as the local AWS answers them: CreateHyperParameterTuningJob (SageMaker's rules that the
service model does not carry, then moto records the job and tuning_runner.py runs it), StopHyperParameterTuningJob,
and ListTrainingJobsForHyperParameterTuningJob (moto has neither), answered from the trials' summaries the tuner
keeps on the job's record."""

from __future__ import annotations

from typing import Any

from mlops_cli.common import parameter_ranges
from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse, ServerContext
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.listing import epoch, sorted_page
from mlops_cli.local.sagemaker.ranges import range_problem
from mlops_cli.local.sagemaker.tuning_jobs import list_summary
from mlops_cli.local.sagemaker.tuning_runner import LocalTuner, hyperband_resources


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
        name = request.json().get("HyperParameterTuningJobName", "")
        record = records.tuning_job(request.account, request.region, name)
        if record is None:
            return LocalResponse.aws_error(
                "ResourceNotFound", f"Amazon SageMaker can't find a tuning job with name {name}"
            )
        job = self.tuner.jobs.get(name)
        status = record.hyper_parameter_tuning_job_status
        if status != "InProgress" or job is None:
            return LocalResponse.aws_error(
                "ValidationException", f"The tuning job {name} is in status {status} and cannot be stopped"
            )
        job.request_stop()
        return LocalResponse.json({})

    def list_trials(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        return list_training_jobs(request.account, request.region, request.json())


def request_problem(params: dict[str, Any]) -> str | None:
    """SageMaker's rules that the service model alone does not carry (and what the local tuner needs)."""
    job_config = params.get("HyperParameterTuningJobConfig") or {}
    definition = params.get("TrainingJobDefinition")
    if not definition:
        return "TrainingJobDefinition is required (TrainingJobDefinitions is not supported by the local AWS)"
    try:
        ranges = parameter_ranges.from_aws(job_config.get("ParameterRanges") or {})
    except (KeyError, TypeError, ValueError) as exc:
        return f"ParameterRanges: {exc}"
    static = definition.get("StaticHyperParameters") or {}
    for item in ranges:
        if item.name in static:
            return f"Hyperparameter {item.name} is both static and tunable"
        problem = range_problem(item)
        if problem:
            return problem
    strategy = job_config.get("Strategy")
    if strategy == "Grid" and any(item.kind != "Categorical" for item in ranges):
        return "Grid search strategy supports only categorical parameter ranges"
    if strategy == "Hyperband" and job_config.get("TrainingJobEarlyStoppingType") == "Auto":
        return "TrainingJobEarlyStoppingType must be Off when the Hyperband strategy is used"
    if strategy == "Hyperband":
        try:
            hyperband_resources(job_config, definition)
        except ValueError as exc:
            return str(exc)
    elif job_config.get("StrategyConfig"):
        return "StrategyConfig is only allowed with the Hyperband strategy"
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


def list_training_jobs(account: str, region: str, params: dict[str, Any]) -> LocalResponse:
    job = records.tuning_job(account, region, params.get("HyperParameterTuningJobName", ""))
    if job is None:
        return LocalResponse.aws_error(
            "ResourceNotFound",
            f"Amazon SageMaker can't find a tuning job with name {params.get('HyperParameterTuningJobName', '')}",
        )
    summaries = [list_summary(account, region, summary) for summary in records.trials(job)]
    if params.get("StatusEquals"):
        summaries = [item for item in summaries if item["TrainingJobStatus"] == params["StatusEquals"]]
    if (params.get("SortBy") or "Name") == "FinalObjectiveMetricValue":
        summaries = [item for item in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in item]
    keys = {
        "Name": lambda item: item["TrainingJobName"],
        "CreationTime": lambda item: epoch(item["CreationTime"]),
        "Status": lambda item: item["TrainingJobStatus"],
        "FinalObjectiveMetricValue": lambda item: item["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
    }
    page, token = sorted_page(summaries, params, keys, default_sort="Name", default_order="Ascending")
    return LocalResponse.json({"TrainingJobSummaries": page, **({"NextToken": token} if token else {})})
