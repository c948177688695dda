"""`mlops deploy --serverless` against the local AWS: the session's trained model behind a serverless endpoint,
which answers, scales to zero when idle (the local time scale applies), pays a cold start on the next request
that the load test reports from SageMaker's ModelSetupTime metric, and refuses Application Auto Scaling."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .conftest import cli

ENDPOINT = "digits-serverless"

pytestmark = pytest.mark.usefixtures("local_aws")


def _model_extracted(mlops_home: Path) -> bool:
    """Whether a model server of the endpoint holds its model (a stopped one removes it)."""
    return any(mlops_home.glob(f"local/*/state/endpoints/{ENDPOINT}/*/opt_ml_model"))


def test_a_serverless_endpoint_answers_after_idle_with_a_cold_start(trained_job, digits_dir, mlops_home, aws_cli):
    plan = cli(
        "-o",
        "json",
        "--dry-run",
        "deploy",
        "--job",
        trained_job.name,
        "--endpoint",
        ENDPOINT,
        "--serverless",
        "memory=2048,concurrency=2",
    )
    assert plan.exit_code == 0, plan.output
    planned = json.loads(plan.stdout)
    config = next(step for step in planned["steps"] if step["operation"] == "CreateEndpointConfig")
    variant = config["params"]["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 2}
    assert "InstanceType" not in variant and planned["cost"]["items"][0]["item"] == "serverless endpoint"

    deployed = cli(
        "deploy", "--job", trained_job.name, "--endpoint", ENDPOINT, "--serverless", "memory=2048,concurrency=2"
    )
    assert deployed.exit_code == 0, deployed.output
    try:
        described = aws_cli("sagemaker", "describe-endpoint", "--endpoint-name", ENDPOINT)
        assert described["ProductionVariants"][0]["CurrentServerlessConfig"]["MemorySizeInMB"] == 2048
        image = str(next((digits_dir / "test").rglob("*.png")))
        assert cli("invoke", "--endpoint", ENDPOINT, image).exit_code == 0  # warm: the first request

        deadline = time.monotonic() + 120
        while _model_extracted(mlops_home):  # idle: scaled to zero
            assert time.monotonic() < deadline, "the idle serverless endpoint kept its model server"
            time.sleep(0.5)

        loaded = cli(
            "-o",
            "json",
            "loadtest",
            "--endpoint",
            ENDPOINT,
            # Two requests, never more in flight than MaxConcurrency (2): both wait out the cold start, which
            # takes tens of seconds on a loaded machine (a third would be throttled, as on AWS).
            "--rate",
            "1",
            "--duration",
            "2",
            "--timeout",
            "300",
            "--images",
            str(digits_dir / "test"),
        )
        assert loaded.exit_code == 0, loaded.output
        result = json.loads(loaded.stdout)
        assert result["ok"] == result["requests"] > 0
        assert result["cold_starts"]["count"] >= 1 and result["cold_starts"]["max_setup_ms"] > 0

        status = cli("-o", "json", "status")
        endpoint = next(e for e in json.loads(status.stdout)["endpoints"] if e["name"] == ENDPOINT)
        assert endpoint["variants"][0]["serverless"]["usd_per_1000_requests"] > 0

        refused = cli("autoscale", "--endpoint", ENDPOINT, "--max", "2")
        assert refused.exit_code == 2 and "serverless" in refused.output
    finally:
        torn = cli("teardown", "--endpoint", ENDPOINT, "--yes")
    assert torn.exit_code == 0, torn.output
