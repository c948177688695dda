"""The SageMaker calls the local AWS answers itself (moto answers and records the rest): training, tuning and
batch transform jobs run here, endpoints are served here."""

from __future__ import annotations

from mlops_cli.local.core.server import Hooks, ServerContext
from mlops_cli.local.sagemaker.hosting import Hosting
from mlops_cli.local.sagemaker.hosting_requests import EndpointRequests, check_model_environment
from mlops_cli.local.sagemaker.listing import list_models
from mlops_cli.local.sagemaker.training_jobs import fail_interrupted_jobs
from mlops_cli.local.sagemaker.training_requests import TrainingJobs
from mlops_cli.local.sagemaker.transform_jobs import fail_interrupted_transform_jobs
from mlops_cli.local.sagemaker.transform_requests import TransformJobs
from mlops_cli.local.sagemaker.tuning_jobs import fail_interrupted_tuning_jobs
from mlops_cli.local.sagemaker.tuning_requests import TuningJobs


def register(hooks: Hooks, context: ServerContext) -> None:
    training = TrainingJobs(context)
    context.on_shutdown(training.runner.shutdown)
    context.store.on_restored(lambda: fail_interrupted_jobs(context))
    hooks.operation("sagemaker", "CreateTrainingJob", training.create)
    hooks.operation("sagemaker", "StopTrainingJob", training.stop)

    tuning = TuningJobs(context)
    context.on_shutdown(tuning.tuner.shutdown)
    context.store.on_restored(lambda: fail_interrupted_tuning_jobs(context))
    hooks.operation("sagemaker", "CreateHyperParameterTuningJob", tuning.create)
    hooks.operation("sagemaker", "StopHyperParameterTuningJob", tuning.stop)
    hooks.operation("sagemaker", "ListTrainingJobsForHyperParameterTuningJob", tuning.list_trials)

    hosting = context.hosting = Hosting(context)
    context.on_shutdown(hosting.stop_all)
    context.store.on_resume(hosting.restore)
    endpoints = EndpointRequests(hosting)
    hooks.operation("sagemaker", "CreateModel", check_model_environment)
    hooks.operation("sagemaker", "ListModels", list_models)
    hooks.operation("sagemaker", "CreateEndpoint", endpoints.create_endpoint)
    hooks.operation("sagemaker", "UpdateEndpoint", endpoints.update_endpoint)
    hooks.operation("sagemaker", "DeleteEndpoint", endpoints.delete_endpoint)
    hooks.route("POST", r"^/endpoints/[^/]+/invocations$", endpoints.invoke_endpoint, service="sagemaker")

    transform = TransformJobs(context)
    context.on_shutdown(transform.runner.shutdown)
    context.store.on_restored(lambda: fail_interrupted_transform_jobs(context))
    hooks.operation("sagemaker", "CreateTransformJob", transform.create)
    hooks.operation("sagemaker", "StopTransformJob", transform.stop)
