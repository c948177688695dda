"""CreateTrainingJob and StopTrainingJob as the local AWS answers them: moto keeps the job's record,
training_runner.py runs the job here."""

from __future__ import annotations

from mlops_cli.local.core.paths import confined
from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse, ServerContext
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker import spot
from mlops_cli.local.sagemaker.training_jobs import job_folder
from mlops_cli.local.sagemaker.training_runner import LocalTrainingRunner


class TrainingJobs:
    """CreateTrainingJob runs the job here (moto keeps its record); StopTrainingJob stops it."""

    def __init__(self, context: ServerContext):
        try:
            interruptions = spot.from_env()
        except ValueError as exc:  # the server does not start: `mlops local up` shows this line
            raise SystemExit(f"local AWS: {exc}") from None
        self.context = context
        self.runner = LocalTrainingRunner(context, interruptions)

    def create(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        name = params.get("TrainingJobName", "")
        job_dir = job_folder(self.context, name)
        for channel in params.get("InputDataConfig") or []:
            confined(job_dir, channel.get("ChannelName", ""))  # "." and ".." fit ChannelName's pattern
        if records.training_job(request.account, request.region, name) is not None:
            return LocalResponse.aws_error(
                "ResourceInUse",
                f"Training job names must be unique within an AWS "
                f"account and region, and a training job with this "
                f"name already exists ({name})",
            )
        response = forward(request)
        if response.status == 200:
            self.runner.start(request.account, request.region, params)
        return response

    def stop(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        name = request.json().get("TrainingJobName", "")
        record = records.training_job(request.account, request.region, name)
        if record is None:
            return LocalResponse.aws_error("ValidationException", "Requested resource not found.")
        status = record.training_job_status
        job = self.runner.jobs.get(name)
        if status != "InProgress" or job is None:
            return LocalResponse.aws_error(
                "ValidationException", f"The request was rejected because the training job is in status {status}."
            )
        job.request_stop()
        return LocalResponse.json({})
