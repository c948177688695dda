"""What the local AWS keeps of a training job: moto's record (DescribeTrainingJob, ListTrainingJobs answer from
it), changed only through the local AWS's journal so that it survives a restart, and the job's work folder.

A job's lifecycle as the record shows it (training_runner.py drives it):

    InProgress: Starting -> Downloading -> Training -> Uploading -> Completed | Failed | Stopped
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mlops_cli.local.core.paths import confined
from mlops_cli.local.core.server import ServerContext
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.records import save_record, utcnow


def job_folder(context: ServerContext, name: str) -> Path:
    return confined(context.state_dir / "jobs", name)


def transition(job: records.TrainingJob, secondary: str, message: str, status: str | None) -> dict[str, Any]:
    """The changes to moto's job record for a new secondary status (and status, if given), as SageMaker shows
    them: the previous transition ends now, the new one starts (and ends, if final)."""
    now = utcnow()
    transitions = [dict(entry) for entry in job.secondary_status_transitions or []]
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    entry = {"Status": secondary, "StartTime": now, "StatusMessage": message}
    if status in ("Completed", "Failed", "Stopped"):
        entry["EndTime"] = now
    transitions.append(entry)
    changes = {"secondary_status_transitions": transitions, "secondary_status": secondary, "last_modified_time": now}
    if status:
        changes["training_job_status"] = status
    return changes


def save_job(context: ServerContext, account: str, region: str, name: str, attributes: dict[str, Any]) -> None:
    save_record(context, account, region, "training_jobs", name, attributes)


def fail_interrupted_jobs(context: ServerContext) -> None:
    """After a restart: a job that was running when the local AWS stopped or crashed has lost its processes.
    SageMaker never leaves a job hanging: it is Failed, with the reason."""
    reason = "InternalServerError: the local AWS restarted while the job was running"
    for account, region, name, job in records.every_training_job():
        if job.training_job_status in ("InProgress", "Stopping"):
            save_job(
                context,
                account,
                region,
                name,
                {
                    **transition(job, "Failed", reason, "Failed"),
                    "failure_reason": reason,
                    "training_end_time": utcnow(),
                },
            )
    shutil.rmtree(context.state_dir / "jobs", ignore_errors=True)  # their work folders (this hook made them)
