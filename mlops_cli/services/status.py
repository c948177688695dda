"""`mlops status`: the project's training jobs and train-ec2 instances, endpoints (instances, scaling range, cost
per hour) and functions.

Resources belong to the project when they carry its `mlops:project` tag or their name starts with
`<project>-` (or is the configured endpoint/function name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from mlops_cli.errors import OperationError
from mlops_cli.plan.sends import sends, sends_via
from mlops_cli.services.deploy import autoscaling
from mlops_cli.services.naming import PROJECT_TAG

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

ClientFor = Callable[[str], Any]
T = TypeVar("T")

TRAINING_JOBS_SHOWN = 10


def hourly_price(instance_type: str) -> float | None:
    """Endpoint instance USD/hour from the one shipped price table (services/prices.json)."""
    from mlops_cli.services.cost import shipped_prices

    return shipped_prices().hosting.get(instance_type)


def _serverless_status(serverless: dict[str, Any]) -> dict[str, Any]:
    """A serverless variant's memory and concurrency, priced per request (services/cost.py)."""
    from mlops_cli.services.cost import serverless_item, shipped_prices

    item = serverless_item(shipped_prices(), serverless["MemorySizeInMB"], serverless.get("MaxConcurrency", 1))
    return {
        "memory_mb": item["memory_mb"],
        "max_concurrency": item["max_concurrency"],
        "usd_per_1000_requests": item["usd_per_1000_requests"],
        "assumes": item["assumes"],
    }


def is_project_resource(
    name: str, tags: Iterable[dict[str, str]] | dict[str, str], project: str, also: Iterable[str] = ()
) -> bool:
    tag_map = tags if isinstance(tags, dict) else {t["Key"]: t["Value"] for t in tags}
    return tag_map.get(PROJECT_TAG) == project or name.startswith(f"{project}-") or name in set(also)


Unreadable = list[dict[str, str]]


def attempt(unreadable: Unreadable | None, kind: str, name: str, read: Callable[[], T], default: T) -> T:
    """`read()`; with `unreadable` given, an AWS error is noted there (kind, name, error) and `default` returned, so
    one resource that cannot be read does not hide the others. Credentials the service does not know are not
    about one resource: raised, as nothing can be read with them. When AWS cannot be read at all (no credentials,
    refused ones, no answer) there are no others: that fails the whole status (exit 1), never empty tables."""
    if unreadable is None:
        return read()
    from botocore.exceptions import BotoCoreError, ClientError

    from mlops_cli.aws import cannot_read_aws, error_code, error_message, is_unknown_credentials, translate_error

    try:
        return read()
    except (ClientError, BotoCoreError) as exc:
        if is_unknown_credentials(exc):
            raise
        if cannot_read_aws(exc):
            failed = translate_error(exc)
            raise OperationError(f"cannot read AWS, so nothing can be shown: {failed}", hint=failed.hint) from None
        reason = f"{error_code(exc)}: {error_message(exc)}" if error_code(exc) else str(exc)
        unreadable.append({"kind": kind, "name": name, "error": reason.strip()})
        return default


@sends("sagemaker", "ListTags")
def _sagemaker_tags(sm: Any, arn: str) -> list[dict[str, str]]:
    return sm.list_tags(ResourceArn=arn).get("Tags", [])


@sends("lambda", "ListTags")
def _function_tags(lam: Any, arn: str) -> dict[str, str]:
    return lam.list_tags(Resource=arn).get("Tags", {})


@sends("sagemaker", "ListEndpoints")
@sends_via(_sagemaker_tags)
def project_endpoints(sm: Any, config: Config, unreadable: Unreadable | None = None) -> list[dict[str, Any]]:
    """Summaries (ListEndpoints) of the project's endpoints (by name, else by tag)."""
    found = []
    for page in sm.get_paginator("list_endpoints").paginate():
        for summary in page["Endpoints"]:
            name = summary["EndpointName"]
            if is_project_resource(name, {}, config.project, [config.endpoint_name]) or is_project_resource(
                name,
                attempt(
                    unreadable,
                    "endpoint tags",
                    name,
                    partial(_sagemaker_tags, sm, summary["EndpointArn"]),
                    list[dict[str, str]](),
                ),
                config.project,
            ):
                found.append(summary)
    return found


@sends("lambda", "ListFunctions")
@sends_via(_function_tags)
def project_functions(lam: Any, config: Config, unreadable: Unreadable | None = None) -> list[dict[str, Any]]:
    found = []
    for page in lam.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            name = function["FunctionName"]
            if (
                name == config.function_name
                or name.startswith(f"{config.project}-")
                or attempt(
                    unreadable,
                    "function tags",
                    name,
                    partial(_function_tags, lam, function["FunctionArn"]),
                    dict[str, str](),
                ).get(PROJECT_TAG)
                == config.project
            ):
                found.append(function)
    return found


@sends("sagemaker", "DescribeEndpoint", "DescribeEndpointConfig")
@sends_via(autoscaling.read_state)
def endpoint_status(sm: Any, aas: Any, name: str) -> dict[str, Any]:
    described = sm.describe_endpoint(EndpointName=name)
    from botocore.exceptions import ClientError

    variants_config: dict[str, dict[str, Any]] = {}
    try:
        config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
        variants_config = {v["VariantName"]: v for v in config.get("ProductionVariants", [])}
    except ClientError:  # a deleted configuration must not hide an endpoint that still costs money
        pass
    variants = []
    cost: float | None = 0.0
    for variant in described.get("ProductionVariants") or []:
        variant_name = variant["VariantName"]
        configured = variants_config.get(variant_name, {})
        serverless = configured.get("ServerlessConfig")
        instance_type = configured.get("InstanceType")
        count = variant.get("CurrentInstanceCount", configured.get("InitialInstanceCount", 0))
        # A serverless variant has no instances to bill by the hour: it costs per request (see per_request).
        price = 0.0 if serverless else hourly_price(instance_type) if instance_type else None
        scaling = autoscaling.read_state(aas, name, variant_name)
        variants.append(
            {
                "variant": variant_name,
                "model": configured.get("ModelName"),
                "instance_type": instance_type,
                "instance_count": count,
                "serverless": _serverless_status(serverless) if serverless else None,
                "scaling": {"min": scaling.target["MinCapacity"], "max": scaling.target["MaxCapacity"]}
                if scaling.target
                else None,
                "usd_per_hour": round(price * count, 3) if price is not None else None,
            }
        )
        cost = None if cost is None or price is None else cost + price * count
    return {
        "name": name,
        "status": described["EndpointStatus"],
        "endpoint_config": described["EndpointConfigName"],
        "failure_reason": described.get("FailureReason"),
        "pending_deployment": _pending_deployment(described),
        "variants": variants,
        "usd_per_hour": round(cost, 3) if cost is not None else None,
        "created": described.get("CreationTime"),
    }


def _pending_deployment(described: dict[str, Any]) -> dict[str, Any] | None:
    """The update under way (a rollout's step, or the new fleet starting): the configuration it deploys and its
    variant's latest status; None when none is."""
    pending = described.get("PendingDeploymentSummary")
    if not pending:
        return None
    statuses = [s for v in pending.get("ProductionVariants") or [] for s in v.get("VariantStatus") or []]
    latest = statuses[-1] if statuses else {}
    return {
        "endpoint_config": pending.get("EndpointConfigName"),
        "status": latest.get("Status"),
        "message": latest.get("StatusMessage"),
    }


JOBS_LISTED = 100


@sends("sagemaker", "ListTrainingJobs", "ListHyperParameterTuningJobs")
@sends_via(_sagemaker_tags)
def project_jobs(
    sm: Any,
    project: str,
    kind: str,
    status: str | None = None,
    unreadable: Unreadable | None = None,
    limit: int = JOBS_LISTED,
) -> list[dict[str, Any]]:
    """The project's jobs of `kind` ("TrainingJob" | "HyperParameterTuningJob"), newest first, at most `limit`:
    a `<project>-` name, or the project tag (a job named with --job-name, and the trials of such a
    tuning job, which carry its tags). Tags are read only for the jobs whose name does not tell."""
    operation = {"TrainingJob": "list_training_jobs", "HyperParameterTuningJob": "list_hyper_parameter_tuning_jobs"}
    kwargs: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 100}
    if status:
        kwargs["StatusEquals"] = status
    found: list[dict[str, Any]] = []
    for page in sm.get_paginator(operation[kind]).paginate(**kwargs):
        for job in page[f"{kind}Summaries"]:
            name = job[f"{kind}Name"]
            tags = partial(_sagemaker_tags, sm, job[f"{kind}Arn"])
            if name.startswith(f"{project}-") or is_project_resource(
                name, attempt(unreadable, "job tags", name, tags, list[dict[str, str]]()), project
            ):
                found.append(job)
                if len(found) == limit:
                    return found
    return found


@sends_via(project_jobs)
def project_training_jobs(
    sm: Any, config: Config, status: str | None = None, unreadable: Unreadable | None = None
) -> list[dict[str, Any]]:
    """The project's SageMaker training jobs (by name, else by tag), newest first, at most 100."""
    return project_jobs(sm, config.project, "TrainingJob", status, unreadable)


@sends_via(project_jobs)
def project_tuning_jobs(
    sm: Any, config: Config, status: str | None = None, unreadable: Unreadable | None = None
) -> list[dict[str, Any]]:
    """The project's hyperparameter tuning jobs (by name, else by tag), newest first, at most 100."""
    return project_jobs(sm, config.project, "HyperParameterTuningJob", status, unreadable)


@sends("sagemaker", "DescribeTrainingJob")
def _training_usd_per_hour(sm: Any, job: dict[str, Any]) -> float | None:
    """What a running training job costs per hour (instances x the shipped table's price); None otherwise."""
    if job["TrainingJobStatus"] != "InProgress":
        return None
    from mlops_cli.services.cost import shipped_prices

    resources = sm.describe_training_job(TrainingJobName=job["TrainingJobName"]).get("ResourceConfig") or {}
    price = shipped_prices().training.get(resources.get("InstanceType", ""))
    return round(price * int(resources.get("InstanceCount") or 1), 3) if price is not None else None


@sends("lambda", "ListProvisionedConcurrencyConfigs")
def _provisioned(lam: Any, function: dict[str, Any]) -> dict[str, Any]:
    """The function's allocated provisioned concurrency and what it costs per hour (the shipped table)."""
    from mlops_cli.services.cost import provisioned_item, shipped_prices

    configs = lam.list_provisioned_concurrency_configs(FunctionName=function["FunctionName"]).get(
        "ProvisionedConcurrencyConfigs", []
    )
    allocated = sum(int(c.get("AllocatedProvisionedConcurrentExecutions") or 0) for c in configs)
    if not allocated:
        return {"provisioned": 0, "usd_per_hour": None}
    architecture = (function.get("Architectures") or ["x86_64"])[0]
    item = provisioned_item(shipped_prices(), int(function.get("MemorySize") or 128), allocated, architecture)
    return {"provisioned": allocated, "usd_per_hour": item["usd_per_hour"]}


@sends_via(project_training_jobs, project_endpoints, endpoint_status, project_functions, project_tuning_jobs)
@sends_via(_training_usd_per_hour, _provisioned)  # live_instances (ec2_follow) is read in an empty account too
def gather(client_for: ClientFor, config: Config) -> dict[str, Any]:
    """Everything status shows. What cannot be read is listed under `unreadable` and the rest still shown; a
    whole section that cannot be read is null, never [] (which would say "there are none")."""
    from mlops_cli.services.ec2.follow import live_instances

    unreadable: Unreadable = []
    sm = client_for("sagemaker")

    def section(kind: str, read: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
        return attempt(unreadable, kind, config.project, read, None)

    jobs = section("training jobs", partial(project_training_jobs, sm, config))
    summaries = section("endpoints", partial(project_endpoints, sm, config, unreadable))
    read = [
        attempt(
            unreadable,
            "endpoint",
            summary["EndpointName"],
            partial(endpoint_status, sm, client_for(autoscaling.SERVICE), summary["EndpointName"]),
            None,
        )
        for summary in summaries or []
    ]
    endpoints = None if summaries is None else [endpoint for endpoint in read if endpoint is not None]
    functions = section("functions", partial(project_functions, client_for("lambda"), config, unreadable))
    instances = section("training instances", partial(live_instances, client_for("ec2"), config))
    tuning_jobs = section("tuning jobs", partial(project_tuning_jobs, sm, config))
    known = [e["usd_per_hour"] for e in endpoints or []]
    return {
        "project": config.project,
        "training_jobs": None
        if jobs is None
        else [
            {
                "name": job["TrainingJobName"],
                "status": job["TrainingJobStatus"],
                "created": job.get("CreationTime"),
                "ended": job.get("TrainingEndTime"),
                "usd_per_hour": attempt(
                    unreadable, "training job", job["TrainingJobName"], partial(_training_usd_per_hour, sm, job), None
                ),
            }
            for job in jobs[:TRAINING_JOBS_SHOWN]
        ],
        "training_instances": instances,
        "tuning_jobs": None
        if tuning_jobs is None
        else [
            {
                "name": job["HyperParameterTuningJobName"],
                "status": job["HyperParameterTuningJobStatus"],
                "strategy": job.get("Strategy"),
                "trials": job.get("TrainingJobStatusCounters", {}),
                "created": job.get("CreationTime"),
                "ended": job.get("HyperParameterTuningEndTime"),
            }
            for job in tuning_jobs[:TRAINING_JOBS_SHOWN]
        ],
        "endpoints": endpoints,
        "functions": None
        if functions is None
        else [
            {
                "name": f["FunctionName"],
                "runtime": f.get("Runtime"),
                "memory_mb": f.get("MemorySize"),
                "state": f.get("State"),
                "last_modified": f.get("LastModified"),
                **attempt(
                    unreadable,
                    "function",
                    f["FunctionName"],
                    partial(_provisioned, client_for("lambda"), f),
                    {"provisioned": None, "usd_per_hour": None},
                ),
            }
            for f in functions
        ],
        # Unknown, not 0, when the endpoints could not be listed.
        "endpoints_usd_per_hour": None if endpoints is None else round(sum(k for k in known if k is not None), 3),
        "unpriced_endpoints": [e["name"] for e, k in zip(endpoints or [], known, strict=True) if k is None],
        "prices": _prices_text(),
        "unreadable": unreadable,
    }


def incomplete(found: dict[str, Any]) -> str | None:
    """One line naming what status could not read (None when it read everything): such a status is a failed
    operation (exit 1), though the readable part is shown, as a CI check must not read "none" from it."""
    if not found["unreadable"]:
        return None
    parts = [f"{problem['kind']} {problem['name']} ({problem['error']})" for problem in found["unreadable"]]
    return f"status is incomplete: could not read {'; '.join(parts)}; the rest is shown"


def _prices_text() -> str:
    from mlops_cli.services.cost import shipped_prices

    prices = shipped_prices()
    return f"{prices.region} on-demand list prices as of {prices.as_of} ({prices.source})"
