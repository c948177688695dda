"""moto's SageMaker records as the local AWS reads them: typed views of the records (the attributes the local
services rely on, each checked on a real record by tests/foundation/test_moto_contract.py) and the lookups that
find them. Records are moto's live objects: a view read later sees later changes. Changes go through the local
AWS's journal (`sagemaker/records.py` `save_record`, by `Collection` name)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal, Protocol, cast

from mlops_cli.local.moto_compat.backends import backend, backends

# The record collections of moto's SageMaker backend that the local AWS changes (its journal names them).
Collection = Literal["endpoints", "training_jobs", "hyper_parameter_tuning_jobs", "transform_jobs"]


class Endpoint(Protocol):
    arn: str
    endpoint_name: str
    endpoint_config_name: str
    endpoint_status: str
    production_variants: list[dict[str, Any]]


class EndpointConfig(Protocol):
    production_variants: list[dict[str, Any]]


class Model(Protocol):
    primary_container: dict[str, Any]
    execution_role_arn: str


class TrainingJob(Protocol):
    arn: str
    creation_time: datetime
    training_job_status: str
    secondary_status_transitions: list[dict[str, Any]]
    algorithm_specification: dict[str, Any]
    training_start_time: datetime | None
    training_end_time: datetime | None
    final_metric_data_list: list[dict[str, Any]]


class TuningJob(Protocol):
    hyper_parameter_tuning_job_status: str


class TransformJob(Protocol):
    transform_job_status: str


TRIALS = "mlops_trials"  # the tuner's trial summaries, kept on moto's tuning job record (the local AWS's own)


def _find(account: str, region: str, collection: str, name: str) -> Any:
    return getattr(backend("sagemaker", account, region), collection).get(name)


def endpoint(account: str, region: str, name: str) -> Endpoint | None:
    return cast("Endpoint | None", _find(account, region, "endpoints", name))


def endpoint_config(account: str, region: str, name: str) -> EndpointConfig | None:
    return cast("EndpointConfig | None", _find(account, region, "endpoint_configs", name))


def model(account: str, region: str, name: str) -> Model | None:
    return cast("Model | None", _find(account, region, "_models", name))


def training_job(account: str, region: str, name: str) -> TrainingJob | None:
    return cast("TrainingJob | None", _find(account, region, "training_jobs", name))


def tuning_job(account: str, region: str, name: str) -> TuningJob | None:
    return cast("TuningJob | None", _find(account, region, "hyper_parameter_tuning_jobs", name))


def transform_job(account: str, region: str, name: str) -> TransformJob | None:
    return cast("TransformJob | None", _find(account, region, "transform_jobs", name))


def trials(job: TuningJob) -> list[dict[str, Any]]:
    """The trial summaries the tuner recorded on the tuning job (none before its first)."""
    return list(getattr(job, TRIALS, []))


def _every(collection: str) -> Iterator[tuple[str, str, str, Any]]:
    for account, region, found in backends("sagemaker"):
        for name, record in list(getattr(found, collection).items()):
            yield account, region, name, record


def every_endpoint() -> Iterator[tuple[str, str, str, Endpoint]]:
    """(account, region, name, record) of every endpoint in every backend."""
    return _every("endpoints")


def every_training_job() -> Iterator[tuple[str, str, str, TrainingJob]]:
    return _every("training_jobs")


def every_tuning_job() -> Iterator[tuple[str, str, str, TuningJob]]:
    return _every("hyper_parameter_tuning_jobs")


def every_transform_job() -> Iterator[tuple[str, str, str, TransformJob]]:
    return _every("transform_jobs")


def model_summaries(account: str, region: str) -> list[dict[str, Any]]:
    """Every model as ListModels shows it (ModelName, ModelArn, CreationTime), unfiltered."""
    return [found.response_object for found in backend("sagemaker", account, region).list_models()]


def serving_variants(endpoint: Endpoint, config_variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The endpoint's ProductionVariants (with their current counts and weights) as moto makes them from an
    endpoint configuration's variants."""
    return cast("list[dict[str, Any]]", cast(Any, endpoint)._process_production_variants(config_variants))
