"""What a launch will cost, before it is sent: training (on SageMaker or one EC2 instance), tuning, endpoints,
batch transform, provisioned concurrency.

Prices come from the AWS Price List API (the `pricing` client, which answers in us-east-1) when it is reachable
and the run is against AWS; otherwise, and for every local run and dry run (which must work offline), from the
table shipped with mlops (`prices.json`: AWS's on-demand list prices for us-east-1, with the date they were
read). Other regions cost somewhat more or less; the document says which prices it used.

Every estimate is one document: `{"currency", "max_usd", "items", "prices": {"source", "as_of", "region"}}`.
`max_usd` is the most the launch can cost where such a maximum exists (a training job stops at its
MaxRuntimeInSeconds, a tuning job after its max jobs, a train-ec2 instance powers off at train.ec2.max_run_s); an
endpoint or provisioned concurrency costs for as long as it runs, so they are priced per hour and per month instead
(a month = 730 hours, as AWS's pricing pages count). EC2 prices come from the shipped table only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from mlops_cli.errors import UsageError

HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
PRICING_REGION = "us-east-1"  # the Price List API's own endpoint
# Price List API attribute values for SageMaker instance usage (productFamily "ML Instance").
PRICE_LIST_COMPONENTS = {"training": "Training", "hosting": "Hosting"}


@dataclass
class Prices:
    source: str
    as_of: str
    currency: str
    region: str
    training: dict[str, float]
    hosting: dict[str, float]
    lambda_provisioned_gb_s: dict[str, float]
    serverless: dict[str, float] = field(default_factory=dict)  # usd_per_gb_second, usd_per_gb_processed
    ec2: dict[str, float] = field(default_factory=dict)  # EC2 on-demand Linux, USD per hour
    ebs_gp3_gb_month: float | None = None
    alarm_metric_month: dict[str, float] = field(
        default_factory=dict
    )  # CloudWatch: USD per alarm metric, by resolution
    notes: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "as_of": self.as_of, "region": self.region}


def shipped_prices() -> Prices:
    data = json.loads(resources.files("mlops_cli.services").joinpath("prices.json").read_text())
    return Prices(
        data["source"],
        data["as_of"],
        data["currency"],
        data["region"],
        data["sagemaker_training_hourly"],
        data["sagemaker_hosting_hourly"],
        data["lambda_provisioned_gb_second"],
        data["sagemaker_serverless"],
        data["ec2_on_demand_hourly"],
        data["ebs_gp3_gb_month"],
        data["cloudwatch_alarm_metric_month"],
    )


def _price_list_hourly(pricing: Any, region: str, component: str, instance_type: str) -> float | None:
    """The on-demand USD per hour of a SageMaker instance type from the Price List API, or None."""
    filters = [
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region},
        {"Type": "TERM_MATCH", "Field": "instanceName", "Value": instance_type},
        {"Type": "TERM_MATCH", "Field": "component", "Value": component},
    ]
    for raw in pricing.get_products(ServiceCode="AmazonSageMaker", Filters=filters, MaxResults=10)["PriceList"]:
        product = json.loads(raw) if isinstance(raw, str) else raw
        for term in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in term.get("priceDimensions", {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if usd and float(usd) > 0 and dimension.get("unit", "").lower().startswith("hr"):
                    return float(usd)
    return None


def load_prices(
    session: Any | None, region: str, training_types: tuple[str, ...] = (), hosting_types: tuple[str, ...] = ()
) -> Prices:
    """Live prices for the given instance types when `session` (a boto3 session for AWS) is given and the Price
    List API answers; the shipped table otherwise (and for any type the API does not price)."""
    prices = shipped_prices()
    if session is None:
        return prices
    from botocore.config import Config as BotoConfig

    try:
        once = BotoConfig(connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 1})
        pricing = session.client("pricing", region_name=PRICING_REGION, config=once)
        live: dict[str, dict[str, float]] = {"training": {}, "hosting": {}}
        for kind, types in (("training", training_types), ("hosting", hosting_types)):
            for instance_type in types:
                found = _price_list_hourly(pricing, region, PRICE_LIST_COMPONENTS[kind], instance_type)
                if found is not None:
                    live[kind][instance_type] = found
    except Exception as exc:  # unreachable, no permission (pricing:GetProducts), throttled: the table serves
        prices.notes.append(f"Price List API not used ({type(exc).__name__}); prices from the shipped table")
        return prices
    if live["training"] or live["hosting"]:
        from datetime import date

        prices.training.update(live["training"])
        prices.hosting.update(live["hosting"])
        prices.source, prices.as_of, prices.region = "AWS Price List API", date.today().isoformat(), region
    return prices


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def document(prices: Prices, items: list[dict[str, Any]], max_usd: float | None) -> dict[str, Any]:
    cost: dict[str, Any] = {
        "currency": prices.currency,
        "max_usd": _round(max_usd),
        "items": items,
        "prices": prices.describe(),
    }
    if prices.notes:
        cost["notes"] = list(prices.notes)
    return cost


def training_item(
    hourly: float | None, instance_type: str, instances: int, max_run_s: int, spot: bool
) -> dict[str, Any]:
    """Instances bounded by a maximum runtime; `hourly`: one instance's price (None: not in the table)."""
    hours = max_run_s / 3600
    item: dict[str, Any] = {
        "item": "training job",
        "instance_type": instance_type,
        "instances": instances,
        "max_hours": round(hours, 3),
        "usd_per_hour": _round(hourly * instances) if hourly is not None else None,
        "max_usd": _round(hourly * instances * hours) if hourly is not None else None,
    }
    if spot:
        # Managed spot bills at most MaxRuntimeInSeconds at no more than the on-demand price: the same ceiling,
        # and usually far less (AWS quotes savings of up to 90 %).
        item["spot"] = True
        item["spot_ceiling_usd"] = item["max_usd"]
    if hourly is None:
        item["note"] = f"no price for {instance_type} in the table"
    return item


def training_cost(prices: Prices, instance_type: str, instances: int, max_run_s: int, spot: bool) -> dict[str, Any]:
    """One training job: instances x hourly price x max runtime (and, with spot, its ceiling)."""
    item = training_item(prices.training.get(instance_type), instance_type, instances, max_run_s, spot)
    return document(prices, [item], item["max_usd"])


def ec2_training_cost(prices: Prices, instance_type: str, volume_gb: int, max_run_s: int) -> dict[str, Any]:
    """`mlops train-ec2`: one on-demand instance and its gp3 root volume for at most max_run_s (the bootstrap
    powers the instance off at it, and it terminates on shutdown)."""
    instance = prices.ec2.get(instance_type)
    volume = prices.ebs_gp3_gb_month * volume_gb / HOURS_PER_MONTH if prices.ebs_gp3_gb_month is not None else 0.0
    item = training_item(None if instance is None else instance + volume, instance_type, 1, max_run_s, False)
    item.update(item="EC2 training job", volume_gb=volume_gb)
    return document(prices, [item], item["max_usd"])


def tuning_cost(
    prices: Prices, instance_type: str, instances: int, max_run_s: int, max_jobs: int, spot: bool = False
) -> dict[str, Any]:
    """A tuning job: at most `max_jobs` training jobs, each bounded like one training job."""
    item = training_item(prices.training.get(instance_type), instance_type, instances, max_run_s, spot)
    item.update(item="tuning job", max_jobs=max_jobs)
    for key in ("max_usd", "spot_ceiling_usd"):
        if item.get(key) is not None:
            item[key] = _round(item[key] * max_jobs)
    return document(prices, [item], item["max_usd"])


def endpoint_item(prices: Prices, instance_type: str, min_instances: int, max_instances: int) -> dict[str, Any]:
    hourly = prices.hosting.get(instance_type)
    item: dict[str, Any] = {
        "item": "endpoint",
        "instance_type": instance_type,
        "min_instances": min_instances,
        "max_instances": max_instances,
    }
    for name, count in (("min", min_instances), ("max", max_instances)):
        item[f"usd_per_hour_at_{name}"] = _round(hourly * count) if hourly is not None else None
        item[f"usd_per_month_at_{name}"] = _round(hourly * count * HOURS_PER_MONTH) if hourly is not None else None
    if hourly is None:
        item["note"] = f"no price for {instance_type} in the table"
    return item


def switch_item(prices: Prices, fleets: list[tuple[str, int]]) -> dict[str, Any]:
    """A blue/green update: the old fleet serves until the new one is InService, so both bill meanwhile
    (per hour; the switch usually lasts minutes, so it is left out of the monthly figures)."""
    hourly = [prices.hosting.get(instance_type) for instance_type, _count in fleets]
    known = None not in hourly
    item: dict[str, Any] = {
        "item": "blue/green switch",
        "fleets": [{"instance_type": t, "instances": n} for t, n in fleets],
        "usd_per_hour": _round(sum(h * n for h, (_t, n) in zip(hourly, fleets, strict=True) if h)) if known else None,
        "while": "the new fleet starts; both fleets bill",
    }
    if not known:
        item["note"] = "no price for " + ", ".join(t for (t, _n), h in zip(fleets, hourly, strict=True) if h is None)
    return item


def alarms_item(prices: Prices, alarms: int) -> dict[str, Any]:
    """The rollback alarms a rollout creates: CloudWatch bills each standard-resolution (60 s period) metric
    alarm per month, for as long as it exists (they stay after the rollout, until `teardown`)."""
    monthly = prices.alarm_metric_month.get("standard_resolution")
    item: dict[str, Any] = {
        "item": "rollback alarms",
        "alarms": alarms,
        "usd_per_month": _round(monthly * alarms) if monthly is not None else None,
    }
    if monthly is None:
        item["note"] = "no price for CloudWatch alarms in the table"
    return item


def endpoint_cost(
    prices: Prices,
    instance_type: str,
    min_instances: int,
    max_instances: int,
    old_fleets: list[tuple[str, int]] | None = None,
    new_instances: int = 0,
    alarms: int = 0,
) -> dict[str, Any]:
    """An endpoint per hour and month at its minimum and maximum instance counts (no maximum total); on an update
    of a live one (`old_fleets`), also the switch, while the old fleets and the new one bill together, and the
    rollback alarms a rollout creates."""
    items = [endpoint_item(prices, instance_type, min_instances, max_instances)]
    if old_fleets:
        items.append(switch_item(prices, [*old_fleets, (instance_type, new_instances)]))
    if alarms:
        items.append(alarms_item(prices, alarms))
    return document(prices, items, None)


SERVERLESS_EXAMPLE_S = 0.1  # the inference time a per-request figure assumes (the load test measures the real one)
SERVERLESS_EXAMPLE_MB = 0.1  # request plus response, MB


def serverless_item(prices: Prices, memory_mb: int, max_concurrency: int) -> dict[str, Any]:
    """A serverless endpoint: nothing while idle, then per GB-second of inference (memory x duration, cold
    starts included) and per GB of data in and out."""
    per_gb_s = prices.serverless.get("usd_per_gb_second")
    per_gb = prices.serverless.get("usd_per_gb_processed")
    per_second = per_gb_s * memory_mb / 1024 if per_gb_s is not None else None
    per_request = (
        per_second * SERVERLESS_EXAMPLE_S + per_gb * SERVERLESS_EXAMPLE_MB / 1024
        if per_second is not None and per_gb is not None
        else None
    )
    return {
        "item": "serverless endpoint",
        "memory_mb": memory_mb,
        "max_concurrency": max_concurrency,
        "usd_idle": 0.0,
        "usd_per_inference_second": None if per_second is None else round(per_second, 8),
        "usd_per_1000_requests": None if per_request is None else round(per_request * 1000, 6),
        "assumes": f"{SERVERLESS_EXAMPLE_S * 1000:.0f} ms and {SERVERLESS_EXAMPLE_MB * 1000:.0f} KB per request",
    }


def serverless_cost(prices: Prices, memory_mb: int, max_concurrency: int) -> dict[str, Any]:
    return document(prices, [serverless_item(prices, memory_mb, max_concurrency)], None)


def transform_cost(prices: Prices, instance_type: str, instances: int, objects: int | None) -> dict[str, Any]:
    """A batch transform job: its instances per hour, billed per second from start to end like hosting (AWS's
    batch transform prices are the real-time inference prices); no maximum (the job has no runtime limit), and
    nothing stays running after it."""
    hourly = prices.hosting.get(instance_type)
    item: dict[str, Any] = {
        "item": "batch transform job",
        "instance_type": instance_type,
        "instances": instances,
        "objects": objects,
        "usd_per_hour": _round(hourly * instances) if hourly is not None else None,
    }
    if hourly is None:
        item["note"] = f"no price for {instance_type} in the table"
    return document(prices, [item], None)


def provisioned_item(prices: Prices, memory_mb: int, provisioned: int, architecture: str = "arm64") -> dict[str, Any]:
    per_gb_s = prices.lambda_provisioned_gb_s.get(architecture)
    month = per_gb_s * memory_mb / 1024 * provisioned * SECONDS_PER_MONTH if per_gb_s is not None else None
    return {
        "item": "provisioned concurrency",
        "environments": provisioned,
        "memory_mb": memory_mb,
        "architecture": architecture,
        "usd_per_month": _round(month),
        "usd_per_hour": _round(month / HOURS_PER_MONTH) if month is not None else None,
    }


def provisioned_cost(prices: Prices, memory_mb: int, provisioned: int, architecture: str = "arm64") -> dict[str, Any]:
    """Provisioned concurrency per month (invocations are billed on top, per request and duration)."""
    return document(prices, [provisioned_item(prices, memory_mb, provisioned, architecture)], None)


def check_budget(cost: dict[str, Any], max_cost: float | None, what: str) -> None:
    """Refuse (exit 2, before anything is sent) a launch whose estimate exceeds --max-cost. The estimate is
    `max_usd` where a maximum exists, else one month at the maximum instance count."""
    if max_cost is None:
        return
    if not math.isfinite(max_cost) or max_cost < 0:  # NaN compares false with everything: it would let all through
        raise UsageError(f"--max-cost must be a finite number >= 0 USD (got {max_cost:g})")
    estimate, basis = cost.get("max_usd"), "at most"
    if estimate is None:
        lasting = [item for item in cost["items"] if item["item"] != "blue/green switch"]
        months = [item.get("usd_per_month_at_max", item.get("usd_per_month")) for item in lasting]
        if any(value is None for value in months):
            notes = "; ".join(item["note"] for item in cost["items"] if "note" in item)
            raise UsageError(f"--max-cost: cannot estimate {what} ({notes or 'no price'}), so it is not launched")
        estimate, basis = sum(months), "per month (730 hours) at the maximum instance count:"
    if estimate > max_cost:
        raise UsageError(
            f"--max-cost {max_cost:g} USD: {what} would cost {basis} {estimate:.2f} USD "
            f"({cost['prices']['source']}, {cost['prices']['as_of']}); nothing was sent"
        )


def summary(cost: dict[str, Any]) -> str:
    """One line for the terminal before a launch."""
    parts = []
    for item in cost["items"]:
        if item["item"] in ("training job", "tuning job", "EC2 training job"):
            usd = item.get("max_usd")
            jobs = f"{item['max_jobs']} jobs x " if item["item"] == "tuning job" else ""
            parts.append(
                f"{item['item']}: at most {_usd(usd)} ({jobs}{item['instances']} x {item['instance_type']} "
                f"x {item['max_hours']:g} h{', spot: usually far less' if item.get('spot') else ''})"
            )
        elif item["item"] == "endpoint":
            parts.append(
                f"endpoint: {_usd(item['usd_per_hour_at_min'])}/hour ({_usd(item['usd_per_month_at_min'])}"
                f"/month) at {item['min_instances']} x {item['instance_type']}, up to "
                f"{_usd(item['usd_per_month_at_max'])}/month at {item['max_instances']}"
            )
        elif item["item"] == "serverless endpoint":
            parts.append(
                f"serverless endpoint: nothing while idle, {_usd(item['usd_per_1000_requests'], 4)} per 1,000 requests "
                f"({item['memory_mb']} MB, {item['assumes']})"
            )
        elif item["item"] == "batch transform job":
            objects = f", {item['objects']} objects" if item.get("objects") is not None else ""
            parts.append(
                f"batch transform job: {_usd(item['usd_per_hour'])}/hour while it runs "
                f"({item['instances']} x {item['instance_type']}{objects}), nothing after"
            )
        elif item["item"] == "blue/green switch":
            fleets = " + ".join(f"{f['instances']} x {f['instance_type']}" for f in item["fleets"])
            parts.append(f"while the new fleet starts, both bill: {_usd(item['usd_per_hour'])}/hour ({fleets})")
        elif item["item"] == "rollback alarms":
            parts.append(f"{item['alarms']} rollback alarm(s): {_usd(item['usd_per_month'])}/month until teardown")
        else:
            parts.append(f"{item['item']}: {_usd(item.get('usd_per_month'))}/month")
    return f"estimated cost: {'; '.join(parts)} [{cost['prices']['source']}, {cost['prices']['as_of']}]"


def _usd(value: float | None, digits: int = 2) -> str:
    return "unknown" if value is None else f"${value:,.{digits}f}"
