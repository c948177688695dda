"""What the local AWS keeps of a hyperparameter tuning job: moto's record (DescribeHyperParameterTuningJob answers
from it; its `mlops_trials` are the trials' summaries, which ListTrainingJobsForHyperParameterTuningJob reads),
changed only through the local AWS's journal so that it survives a restart."""

from __future__ import annotations

from typing import Any

from mlops_cli.local.core.server import ServerContext
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.records import save_record, utcnow


def save_tuning_job(context: ServerContext, account: str, region: str, name: str, attributes: dict[str, Any]) -> None:
    save_record(context, account, region, "hyper_parameter_tuning_jobs", name, attributes)


def fail_interrupted_tuning_jobs(context: ServerContext) -> None:
    """After a restart: a tuning job that was running lost its tuner (and its trials their processes, which
    training_jobs.py fails); it is Failed with the reason, as a job is never left hanging."""
    for account, region, name, job in records.every_tuning_job():
        if job.hyper_parameter_tuning_job_status in ("InProgress", "Stopping"):
            save_tuning_job(
                context,
                account,
                region,
                name,
                {
                    "hyper_parameter_tuning_job_status": "Failed",
                    "hyper_parameter_tuning_end_time": utcnow(),
                    "last_modified_time": utcnow(),
                    "failure_reason": "InternalServerError: the local AWS restarted while the tuning job was running",
                },
            )


def list_summary(account: str, region: str, summary: dict[str, Any]) -> dict[str, Any]:
    """A HyperParameterTrainingJobSummary: the tuner's fields plus the training job's own state."""
    job = records.training_job(account, region, summary["TrainingJobName"])
    result = dict(summary)
    if job is None:  # CreateTrainingJob refused it
        result.update(
            {
                "TrainingJobArn": f"arn:aws:sagemaker:{region}:{account}:training-job/{summary['TrainingJobName']}",
                "CreationTime": utcnow(),
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
