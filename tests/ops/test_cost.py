"""Cost before launch: every launching plan carries a `cost` estimate from the shipped price table, and
`--max-cost` refuses a launch whose estimate exceeds it (exit 2, nothing sent)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from mlops_cli.services import cost
from tests.helpers import SERVED_PROJECT

from .conftest import cli

M5_LARGE = 0.115  # USD per hour in the shipped table (services/prices.json), training and hosting alike


def test_training_plan_costs_instances_times_price_times_max_runtime():
    plan = json.loads(cli("-o", "json", "--dry-run", "train", "--instances", "2", "--spot").stdout)
    estimate = plan["cost"]
    assert estimate["currency"] == "USD"
    assert estimate["prices"]["source"].startswith("shipped table") and estimate["prices"]["as_of"]
    (item,) = estimate["items"]
    assert (item["instances"], item["instance_type"], item["max_hours"]) == (2, "ml.m5.large", 1.0)
    assert estimate["max_usd"] == pytest.approx(2 * M5_LARGE * 1.0)
    assert item["spot"] is True and item["spot_ceiling_usd"] == estimate["max_usd"]


def test_training_over_max_cost_is_refused_before_anything_is_sent(local_aws, boto_client):
    sm = boto_client("sagemaker")
    before = sm.list_training_jobs()["TrainingJobSummaries"]
    result = cli("train", "--instances", "2", "--max-cost", "0.1")
    assert result.exit_code == 2
    assert "--max-cost 0.1 USD: training job (2 x ml.m5.large, max 3600 s) would cost at most 0.23 USD" in " ".join(
        result.stderr.split()
    )
    assert sm.list_training_jobs()["TrainingJobSummaries"] == before
    assert cli("--dry-run", "train", "--max-cost", "0.2").exit_code == 0  # 0.115 fits


def test_deploy_plan_costs_the_endpoint_per_hour_and_month_and_max_cost_refuses(local_aws, boto_client):
    s3 = boto_client("s3")
    if "mlops-local" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket="mlops-local")
    s3.put_object(Bucket="mlops-local", Key="digits/models/cost-test/model.tar.gz", Body=b"x")
    model = "s3://mlops-local/digits/models/cost-test/model.tar.gz"
    plan = json.loads(
        cli(
            "-o", "json", "--dry-run", "deploy", "--model", model, "--endpoint", "digits-costly", "--autoscale", "max=3"
        ).stdout
    )
    (item,) = plan["cost"]["items"]
    assert plan["cost"]["max_usd"] is None  # an endpoint costs for as long as it runs
    assert item["usd_per_hour_at_min"] == pytest.approx(M5_LARGE)
    assert item["usd_per_month_at_max"] == pytest.approx(3 * M5_LARGE * 730)
    refused = cli(
        "deploy", "--model", model, "--endpoint", "digits-costly", "--autoscale", "max=3", "--max-cost", "100"
    )
    assert refused.exit_code == 2 and "per month (730 hours) at the maximum instance count" in refused.stderr
    endpoints = boto_client("sagemaker").list_endpoints()["Endpoints"]
    assert "digits-costly" not in [e["EndpointName"] for e in endpoints]


def test_tuning_and_provisioned_concurrency_estimates():
    prices = cost.shipped_prices()
    tuning = cost.tuning_cost(prices, "ml.m5.large", 1, 1800, max_jobs=8)
    assert tuning["max_usd"] == pytest.approx(8 * M5_LARGE * 0.5)
    provisioned = cost.provisioned_cost(prices, memory_mb=1024, provisioned=2, architecture="arm64")
    assert provisioned["items"][0]["usd_per_month"] == pytest.approx(2 * 0.0000033334 * 730 * 3600, rel=1e-3)
    unknown = cost.training_cost(prices, "ml.zz9.huge", 1, 3600, False)
    with pytest.raises(Exception, match="no price for ml.zz9.huge"):
        cost.check_budget(cost.endpoint_cost(prices, "ml.zz9.huge", 1, 2), 10, "endpoint")
    assert unknown["max_usd"] is None


def test_tuning_plan_costs_its_trials_and_max_cost_refuses():
    plan = json.loads(cli("-o", "json", "--dry-run", "tune", "--max-jobs", "4", "--parallel", "2").stdout)
    (item,) = plan["cost"]["items"]
    assert item["item"] == "tuning job" and item["max_jobs"] == 4
    assert plan["cost"]["max_usd"] == pytest.approx(4 * M5_LARGE * 1.0)
    refused = cli("--dry-run", "tune", "--max-jobs", "4", "--parallel", "2", "--max-cost", "0.3")
    assert refused.exit_code == 2 and "tuning job (4 trials of 1 x ml.m5.large" in " ".join(refused.stderr.split())


def test_an_update_prices_the_live_scaling_and_both_fleets(served_model, boto_client):
    """A live endpoint autoscaled up to 2: the update keeps that range, so --max-cost prices 2 instances, and
    while the new fleet starts both bill (the old fleet's 1 instance and the new one's)."""
    aas = boto_client("application-autoscaling")
    scalable = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": f"endpoint/{served_model}/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    aas.register_scalable_target(**scalable, MinCapacity=1, MaxCapacity=2)
    model = "s3://mlops-local/served/models/session/output/model.tar.gz"
    update = ("--dry-run", "deploy", "--model", model, "--endpoint", served_model)
    served = {"MLOPS_PROJECT": SERVED_PROJECT, "MLOPS_S3__PREFIX": SERVED_PROJECT}  # the model's project
    try:
        plan = json.loads(cli("-o", "json", *update, env=served).stdout)
        endpoint, switch = plan["cost"]["items"]
        assert (endpoint["min_instances"], endpoint["max_instances"]) == (1, 2)
        assert endpoint["usd_per_month_at_max"] == pytest.approx(2 * M5_LARGE * 730)
        assert switch["item"] == "blue/green switch" and switch["usd_per_hour"] == pytest.approx(2 * M5_LARGE)
        one_instance_month = M5_LARGE * 730
        refused = cli(*update, "--max-cost", f"{1.5 * one_instance_month:.2f}", env=served)  # 1 instance fits, not 2
        assert refused.exit_code == 2 and "would cost per month" in " ".join(refused.stderr.split())
        assert cli(*update, "--max-cost", f"{2.5 * one_instance_month:.2f}", env=served).exit_code == 0
    finally:
        aas.deregister_scalable_target(**scalable)


def test_a_rollout_prices_the_alarms_it_creates_from_the_shipped_table(served_model):
    """Each alarm a rollout creates bills per month at CloudWatch's standard-resolution alarm price (the table's,
    services/prices.json); an existing alarm it is only given is not priced."""
    model = "s3://mlops-local/served/models/session/output/model.tar.gz"
    served = {"MLOPS_PROJECT": SERVED_PROJECT, "MLOPS_S3__PREFIX": SERVED_PROJECT}
    guarded = ("--rollout", "canary:10%:5m", "--rollback-on", "p99>800ms", "--rollback-on", "5xx>1%")
    update = ("-o", "json", "--dry-run", "deploy", "--model", model, "--endpoint", served_model, *guarded)
    plan = json.loads(cli(*update, env=served).stdout)
    (alarms,) = [item for item in plan["cost"]["items"] if item["item"] == "rollback alarms"]
    shipped = json.loads(resources.files("mlops_cli.services").joinpath("prices.json").read_text())
    per_alarm = shipped["cloudwatch_alarm_metric_month"]["standard_resolution"]
    assert alarms == {"item": "rollback alarms", "alarms": 2, "usd_per_month": pytest.approx(2 * per_alarm)}
    assert cost.summary(plan["cost"]).count("2 rollback alarm(s)") == 1


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
@pytest.mark.parametrize(
    "command",
    [["train"], ["tune", "--max-jobs", "2"], ["concurrency", "set", "--provisioned", "1", "--reserved", "2"]],
)
def test_max_cost_must_be_a_finite_amount(command: list[str], value: str):
    """NaN compares false with every estimate: accepted, it would turn the guard off."""
    result = cli("--dry-run", *command, "--max-cost", value)
    assert result.exit_code == 2 and "--max-cost must be a finite number >= 0 USD" in result.stderr, result.output
