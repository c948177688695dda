"""`mlops predict-batch`: the model, the inputs (a local folder is uploaded first, by the same sync as `data
upload`), and one batch transform job; with --wait, followed to its end and summarized."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import OperationError
from mlops_cli.plan.sends import sends_via
from mlops_cli.services.deploy import batch_transform

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan import Answers, Executor, Plan
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.s3sync.location import S3Location
    from mlops_cli.usecases.upload import ShowProgress


@dataclass(frozen=True)
class BatchRequest:
    """What the flags ask for (instance type and count arrive through the config)."""

    input: str  # s3://bucket/prefix or a local folder
    to: str | None = None
    model: str | None = None
    job: str | None = None
    tuning_job: str | None = None
    wait: bool = False


@sends_via(batch_transform.summarize)
@contextmanager
def planned_batch(
    config: Config, clients: AwsClients, request: BatchRequest, show_progress: ShowProgress
) -> Iterator[Planned]:
    """Check the flags (exit 2 before any AWS call), find the model, plan the upload (a local folder) and the job."""
    from mlops_cli.errors import UsageError
    from mlops_cli.usecases.deploy import check_model_flags

    check_model_flags(request.model, request.job, request.tuning_job)
    job = batch_transform.job_name(config)
    output = batch_transform.output_location(config, request.to, job)
    if request.input.startswith("s3://"):
        source = batch_transform.input_location(config, request.input)
        yield _planned(config, clients, request, job, source, output, None)
        return
    folder = Path(request.input)
    if not folder.is_dir():
        raise UsageError(f"INPUT {request.input} is neither an s3:// URI nor a folder")
    from mlops_cli.services.naming import batch_input_uri
    from mlops_cli.usecases.upload import UploadRequest, planned_upload

    source = batch_transform.input_location(config, f"{batch_input_uri(config)}/{job}")
    upload_request = UploadRequest(src=folder, to=source.uri)
    with planned_upload(clients, upload_request, show_progress) as upload:
        yield _planned(config, clients, request, job, source, output, upload)


def _planned(
    config: Config,
    clients: AwsClients,
    request: BatchRequest,
    job: str,
    source: S3Location,
    output: S3Location,
    upload: Planned | None,
) -> Planned:
    from mlops_cli.plan import Plan
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services import cost, images, naming
    from mlops_cli.services.iam import sagemaker_roles
    from mlops_cli.usecases.deploy import model_artifact

    batch = config.batch
    sagemaker = config.train.sagemaker
    artifact = model_artifact(config, clients, request.model, request.job, request.tuning_job)
    image = images.image_uri(
        config.aws.region, sagemaker.framework_version, sagemaker.py_version, batch.instance_type, "inference"
    )
    role_steps = (
        []
        if sagemaker.role_arn
        else sagemaker_roles.role_steps(
            sagemaker_roles.batch_role(), config, account_id=clients.account_id, partition=clients.partition
        )
    )
    target = batch_transform.BatchTarget(
        job_name=job,
        model_name=job,
        artifact=artifact,
        image=image,
        role_arn=naming.batch_role_arn(config, lambda: clients.account_id, clients.partition),
        region=config.aws.region,
        source=source,
        output=output,
        instance_type=batch.instance_type,
        instance_count=batch.instance_count,
        max_concurrent=batch.max_concurrent_transforms,
        max_payload_mb=batch.max_payload_mb,
        tags=naming.tags(config),
    )
    inputs = _input_count(clients, source, upload)
    if inputs == 0 and not clients.offline:
        from mlops_cli.errors import UsageError

        raise UsageError(f"INPUT {request.input}: no objects under {source.uri}/ to transform")
    max_poll_s = batch_transform.LOCAL_MAX_POLL_S if clients.is_local else batch_transform.MAX_POLL_S
    job_plan = batch_transform.plan_batch(target, role_steps, request.wait, max_poll_s)
    prices = cost.load_prices(
        None if clients.is_local or clients.dry_run else clients.session,
        config.aws.region,
        hosting_types=(batch.instance_type,),
    )
    plan = Plan(job_plan.title, [*(upload.plan.steps if upload else []), *job_plan.steps])
    plan.cost = cost.transform_cost(prices, batch.instance_type, batch.instance_count, inputs)

    def run(executor: Executor, _plan: Plan) -> Answers:
        if upload is not None:
            from mlops_cli.usecases.upload import check_finished

            uploaded = upload.execute(executor)
            check_finished(upload.finish(uploaded))
        return executor.execute(job_plan)

    def finish(answers: Answers) -> dict[str, Any]:
        result = {
            "job": job,
            "model": target.model_name,
            "model_data": artifact.uri,
            "artifact_source": artifact.source,
            "input": f"{source.uri}/",
            "output": f"{output.uri}/",
            "instance_type": batch.instance_type,
            "instance_count": batch.instance_count,
            "status": "InProgress",
            "failure_reason": None,
            "summary": None,
        }
        described = answers.waited.get("job")
        if described is not None:
            result["status"] = described["TransformJobStatus"]
            result["failure_reason"] = described.get("FailureReason") or None
            count = inputs if inputs is not None else batch_transform.count_objects(clients.client("s3"), source)
            result["summary"] = batch_transform.summarize(clients.client("s3"), source, output, count)
        return result

    return Planned(
        plan,
        finish=finish,
        run=run,
        announce=[
            cost.summary(plan.cost),
            f"transform job {job}: {source.uri}/ -> {output.uri}/ with {artifact.uri} ({artifact.source})",
        ],
        interrupted=(
            f"stopped waiting; transform job {job} goes on in AWS",
            f"stop it with `aws sagemaker stop-transform-job --transform-job-name {job}`",
        ),
    )


def _input_count(clients: AwsClients, source: S3Location, upload: Planned | None) -> int | None:
    """How many images the job will read: the folder's files (each transfer starts with one PutObject or
    CreateMultipartUpload), or the objects under the S3 prefix (None offline)."""
    if upload is not None:
        return sum(1 for step in upload.plan.steps if step.operation in ("PutObject", "CreateMultipartUpload"))
    if clients.offline:
        return None
    return batch_transform.count_objects(clients.client("s3"), source)


def check_finished(result: dict[str, Any]) -> None:
    """A followed job that ended other than Completed: exit 1 with its reason, once the result was shown."""
    if result["status"] in batch_transform.FINAL and result["status"] != "Completed":
        raise OperationError(
            f"transform job {result['job']} {result['status']}"
            + (f": {result['failure_reason']}" if result["failure_reason"] else ""),
            hint=f"its logs: `aws logs tail /aws/sagemaker/TransformJobs --log-stream-name-prefix {result['job']}`",
        )
