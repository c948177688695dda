"""CreateTransformJob and StopTransformJob as the local AWS answers them: moto keeps the job's record (and answers
DescribeTransformJob and ListTransformJobs from it), transform_runner.py runs the job here.

moto would mark the job Completed at once and has no StopTransformJob. Here the job is InProgress from the moment
CreateTransformJob answers until the runner ends it. What the local runner does not run (a manifest file, an
augmented manifest, records split by line or RecordIO) is refused at once rather than run differently from AWS.
"""

from __future__ import annotations

from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse, ServerContext
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.transform_jobs import save_transform_job, transform_folder
from mlops_cli.local.sagemaker.transform_runner import TransformRunner


class TransformJobs:
    def __init__(self, context: ServerContext):
        self.context = context
        self.runner = TransformRunner(context)

    def create(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        name = params.get("TransformJobName", "")
        transform_folder(self.context, name)
        if records.transform_job(request.account, request.region, name) is not None:
            return LocalResponse.aws_error(
                "ResourceInUse", f"Job name must be unique within an AWS account and region, and {name} exists."
            )
        unsupported = _unsupported(params)
        if unsupported:
            return LocalResponse.aws_error("ValidationException", f"The local AWS does not run {unsupported}.")
        if params.get("ModelName") and records.model(request.account, request.region, params["ModelName"]) is None:
            return LocalResponse.aws_error("ValidationException", f'Could not find model "{params["ModelName"]}".')
        response = forward(request)  # the botocore model's checks come first: a malformed request never gets here
        if response.status != 200:
            return response
        save_transform_job(self.context, request.account, request.region, name, transform_job_status="InProgress")
        self.runner.start(request, params)
        return response

    def stop(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        name = request.json().get("TransformJobName", "")
        job = records.transform_job(request.account, request.region, name)
        if job is None:
            return LocalResponse.aws_error("ValidationException", f"Could not find job to update with name {name}")
        if job.transform_job_status != "InProgress" or not self.runner.stop(name):
            return LocalResponse.aws_error(
                "ValidationException", f"The transform job {name} is {job.transform_job_status} and cannot be stopped."
            )
        return LocalResponse.json({})


def _unsupported(params: dict) -> str | None:
    source = ((params.get("TransformInput") or {}).get("DataSource") or {}).get("S3DataSource") or {}
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        return f"S3DataType {source['S3DataType']} (only S3Prefix)"
    split = (params.get("TransformInput") or {}).get("SplitType", "None")
    if split != "None":
        return f"SplitType {split} (only None: one object, one request)"
    return None
