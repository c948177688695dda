"""`mlops loadtest` against a real local endpoint: open-loop arrivals, the summary, -o json, the plot, the CI
gate, and its usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import cli


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rate", "2", "--ramp", "1:3"], "--rate or --ramp"),
        (["--ramp", "fast"], "--ramp must be R1:R2"),
        (["--fail-on", "p98>3"], "'p98>3' is not one of"),
        (["--target", "queue"], "--target must be one of"),
        (["--plot", "out.svg"], "name it *.png"),
        (["--images", "/nonexistent-folder"], "no such image folder"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args, message):
    result = cli("loadtest", *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"statusCode": 429, "body": "{}"}', 429),
        (b'{"label": "cat"}', 200),
        (b"not json", 200),
        (b'"a string"', 200),
        (b"[" * 100_000 + b"]" * 100_000, 200),  # past Python's recursion limit: not a crash of the load test
    ],
)
def test_a_functions_answer_gives_its_status_or_200(body, status):
    from mlops_cli.services.loadtest import answer_status

    assert answer_status(body) == status


def test_dry_run_prints_the_requests_it_would_send(digits_dir: Path):
    result = cli(
        "-o", "json", "--dry-run", "loadtest", "--rate", "4", "--duration", "5", "--images", str(digits_dir / "test")
    )
    assert result.exit_code == 0, result.output
    step = json.loads(result.stdout)["steps"][0]
    assert step["operation"] == "InvokeEndpoint" and step["note"] == "20 requests over 5 s"


def test_a_missing_endpoint_fails_before_any_load(local_aws, digits_dir: Path):
    result = cli("loadtest", "--endpoint", "digits-nowhere", "--duration", "2", "--images", str(digits_dir / "test"))
    assert result.exit_code == 1 and "endpoint 'digits-nowhere' not found" in result.stderr


def test_load_gives_summary_json_plot_and_gate(served_model, digits_dir: Path, tmp_path: Path):
    plot = tmp_path / "load.png"
    result = cli(
        "-o",
        "json",
        "loadtest",
        "--endpoint",
        served_model,
        "--rate",
        "4",
        "--duration",
        "3",
        "--images",
        str(digits_dir / "test"),
        "--plot",
        str(plot),
        "--fail-on",
        "p99>0.001,errors>50",
    )
    assert result.exit_code == 1  # no endpoint answers in a microsecond: the gate fails the run
    assert "--fail-on: p99" in result.stderr
    data = json.loads(result.stdout)
    assert data["requests"] == 12 and data["ok"] == 12 and data["dropped"] == 0
    assert data["errors"] == {"4xx": 0, "5xx": 0, "throttled": 0}
    latency = data["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert data["instances"][0]["count"] == 1  # DescribeEndpoint's CurrentInstanceCount
    assert sum(row["requests"] for row in data["timeline"]) == 12
    assert data["plot"] == str(plot) and plot.read_bytes().startswith(b"\x89PNG")
