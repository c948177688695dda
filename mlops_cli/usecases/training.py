"""`mlops train` and `mlops tune`: the launch plan (role, source package, the job request) with its cost, checked
against --max-cost before anything is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mlops_cli.plan.sends import sends

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.tuning import TuneSettings


@sends("sts", "GetCallerIdentity")  # the account of a real run (_account)
def planned_training(config: Config, clients: AwsClients, job_name: str | None, max_cost: float | None) -> Planned:
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services import cost, training

    launch = training.plan_training(
        config, account_id=_account(clients), partition=clients.partition, job_name=job_name
    )
    sagemaker = config.train.sagemaker
    launch.plan.cost = cost.training_cost(
        _prices(config, clients), sagemaker.instance_type, sagemaker.instance_count, sagemaker.max_run_s, sagemaker.spot
    )
    cost.check_budget(
        launch.plan.cost,
        max_cost,
        f"training job ({sagemaker.instance_count} x {sagemaker.instance_type}, max {sagemaker.max_run_s} s)",
    )
    return Planned(
        launch.plan,
        finish=lambda answers: training.launch_result(launch, answers, "TrainingJobArn"),
        warnings=launch.warnings,
        announce=[cost.summary(launch.plan.cost)],
    )


@sends("sts", "GetCallerIdentity")  # the account of a real run (_account)
def planned_tuning(
    config: Config, clients: AwsClients, settings: TuneSettings, job_name: str | None, max_cost: float | None
) -> Planned:
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services import cost, training, tuning

    launch = tuning.plan_tuning(
        config, settings, account_id=_account(clients), partition=clients.partition, job_name=job_name
    )
    sagemaker = config.train.sagemaker
    trials = tuning.grid_size(settings.ranges) if settings.strategy == "grid" else settings.max_jobs
    launch.plan.cost = cost.tuning_cost(
        _prices(config, clients),
        sagemaker.instance_type,
        sagemaker.instance_count,
        sagemaker.max_run_s,
        trials,
        sagemaker.spot,
    )
    cost.check_budget(
        launch.plan.cost,
        max_cost,
        f"tuning job ({trials} trials of {sagemaker.instance_count} x {sagemaker.instance_type}, max "
        f"{sagemaker.max_run_s} s each)",
    )
    return Planned(
        launch.plan,
        finish=lambda answers: training.launch_result(launch, answers, "HyperParameterTuningJobArn"),
        warnings=launch.warnings,
        announce=[cost.summary(launch.plan.cost)],
    )


def _account(clients: AwsClients) -> Callable[[], str]:
    """A dry run does not look the account up: the plan shows the placeholder account."""
    from mlops_cli.services import training

    return (lambda: training.ACCOUNT_PLACEHOLDER) if clients.dry_run else (lambda: clients.account_id)


def _prices(config: Config, clients: AwsClients) -> Any:
    """AWS's price list for a real run against AWS; the shipped table for local runs and dry runs (offline)."""
    from mlops_cli.services import cost

    return cost.load_prices(
        None if clients.is_local or clients.dry_run else clients.session,
        config.aws.region,
        training_types=(config.train.sagemaker.instance_type,),
    )
