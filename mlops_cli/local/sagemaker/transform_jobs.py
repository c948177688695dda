"""What the local AWS keeps of a batch transform job: moto's record (DescribeTransformJob, ListTransformJobs answer
from it), changed only through the local AWS's journal so that it survives a restart, and the job's work folder.

moto marks a transform job Completed the moment it is created and transforms nothing; here the record follows
what transform_runner.py does:

    InProgress -> Completed | Failed (FailureReason) | Stopping -> Stopped
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mlops_cli.local.core.paths import confined
from mlops_cli.local.core.server import ServerContext
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.records import save_record, utcnow

FINAL = ("Completed", "Failed", "Stopped")


def transform_folder(context: ServerContext, name: str) -> Path:
    return confined(context.state_dir / "transform-jobs", name)


def save_transform_job(context: ServerContext, account: str, region: str, name: str, **attributes: Any) -> None:
    """Change moto's transform job record, durably; a final status stamps the end time."""
    now = utcnow()
    attributes["last_modified_time"] = now
    if attributes.get("transform_job_status") in FINAL:
        attributes["transform_end_time"] = now
    save_record(context, account, region, "transform_jobs", name, attributes)


def fail_interrupted_transform_jobs(context: ServerContext) -> None:
    """After a restart: a job that was running has lost its model servers; SageMaker never leaves one hanging."""
    for account, region, name, job in records.every_transform_job():
        if job.transform_job_status in ("InProgress", "Stopping"):
            save_transform_job(
                context,
                account,
                region,
                name,
                transform_job_status="Failed",
                failure_reason="InternalServerError: the local AWS restarted while the job was running",
            )
    shutil.rmtree(context.state_dir / "transform-jobs", ignore_errors=True)  # their work folders
