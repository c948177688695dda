"""`mlops loadtest` against a real local endpoint: open-loop arrivals, the summary, -o json, the plot, the CI
gate, and its usage errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from .conftest import cli, python_function


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rate", "2", "--ramp", "1:3"], "--rate or --ramp"),
        (["--ramp", "fast"], "--ramp must be R1:R2"),
        (["--fail-on", "p98>3"], "'p98>3' is not one of"),
        (["--target", "queue"], "--target must be one of"),
        (["--plot", "out.svg"], "name it *.png"),
        (["--images", "/nonexistent-folder"], "no such image folder"),
        (["--rate", "nan"], "finite number > 0"),
        (["--rate", "inf"], "finite number > 0"),
        (["--ramp", "1:99999999999999999999"], "more than the 1,000,000 one run may"),
        (["--rate", "1e8", "--duration", "100"], "schedules 10,000,000,000 requests, more than the 1,000,000"),
        (["--rate", "1e300", "--dry-run"], "more than the 1,000,000 one run may"),
        (["--ramp", "1" + "0" * 308 + ":1" + "0" * 308], "schedules more than 1e+308 requests"),  # overflows
        (["--rate", "1000", "--duration", "3600"], "schedules 3,600,000 requests"),
        (["--duration", "0.001"], "--duration must be between 1 second and 24 hours"),
        (["--rate", "1e-9", "--fail-on", "errors>0"], "schedules no request to measure"),
        (["--requests", "/dev/zero"], "larger than the"),
        (["--requests", "/nonexistent.jsonl"], "not found: /nonexistent.jsonl"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args, message):
    dry_run = ["--dry-run"] if "--dry-run" in args else []
    result = cli(*dry_run, "loadtest", *[arg for arg in args if arg != "--dry-run"])
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
    from mlops_cli.services.deploy.loadtest import answer_status

    assert answer_status(body) == status


def test_dry_run_prints_the_requests_it_would_send(digits_dir: Path):
    result = cli(
        "-o", "json", "--dry-run", "loadtest", "--rate", "4", "--duration", "5", "--images", str(digits_dir / "test")
    )
    assert result.exit_code == 0, result.output
    step = json.loads(result.stdout)["steps"][0]
    assert step["operation"] == "InvokeEndpoint" and step["note"] == "20 requests over 5 s"


def test_a_long_run_is_planned_without_scheduling_it(digits_dir: Path):
    # 900,000 requests: under the cap; the schedule is counted, not built (it is generated as the run goes).
    result = cli(
        "-o",
        "json",
        "--dry-run",
        "loadtest",
        "--rate",
        "250",
        "--duration",
        "3600",
        "--images",
        str(digits_dir / "test"),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"][0]["note"] == "900000 requests over 3600 s"


def test_a_run_that_measured_nothing_fails_every_gate():
    from mlops_cli.services.deploy.loadtest import failed_limits

    nothing = {"requests": 0, "error_percent": 0.0, "latency_ms": {"p99": None}}
    assert failed_limits(nothing, {"errors": 1.0}) == ["no request was measured"]
    assert failed_limits(nothing, {}) == []


def test_the_live_view_never_rescans_earlier_samples():
    """The live view's per-tick work is the samples due in its window, not every sample so far: with 300,000
    earlier samples a tick must not walk them (it would hold the senders' lock meanwhile)."""
    from mlops_cli.services.deploy.loadtest import LoadRun, LoadSpec, Payload, Sample

    class NotToBeScanned(list):
        def __iter__(self):
            raise AssertionError("a tick walked every sample of the run")

    run = LoadRun(LoadSpec("endpoint", "e", 1, 1, 600, 1), lambda _: ("ok", False), [Payload(b"", "x")], None)
    run.samples = NotToBeScanned()
    with run.lock:
        for k in range(300_000):  # 1,000/s for the first 300 s, 1 % failing
            run._record(Sample(k / 1000, 5.0, 5.0, "5xx" if k % 100 == 0 else "ok"))
    run.snapshot(300.0)
    with run.lock:
        for k in range(10):  # then ten slow ones in the last second
            run._record(Sample(399.5 + k / 100, 900.0, 900.0, "ok"))
    snapshot = run.snapshot(400.0)
    assert snapshot.p50_ms == 900.0 and snapshot.rate == 10
    assert snapshot.errors == 3000


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
    assert data["errors"] == {"4xx": 0, "5xx": 0, "throttled": 0, "timeout": 0}
    latency = data["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert data["instances"][0]["count"] == 1  # DescribeEndpoint's CurrentInstanceCount
    assert sum(row["requests"] for row in data["timeline"]) == 12
    assert data["plot"] == str(plot) and plot.read_bytes().startswith(b"\x89PNG")


STALL = """
import time


def handler(event, context):
    time.sleep(event.get("stall_s", 0))
    return {"statusCode": event.get("status", 200), "body": "{}"}
"""


@pytest.fixture(scope="module")
def stall_function(boto_client):
    """A function that answers at once, or after `stall_s` seconds, with the `status` its event asks for."""
    with python_function(boto_client, "digits-stall", "stall", STALL):
        yield "digits-stall"


def test_a_stall_shows_in_the_corrected_latency_and_failures_count(stall_function, tmp_path: Path):
    # 3 requests/s on one connection: a warm-up second, then 30 measured requests. The 4th measured stalls 1.2 s
    # and the 5th (due 0.33 s later) 5 s, past --timeout 2.5: those due meanwhile wait for the connection, and the
    # ones that wait longer than the timeout are given up. Two later ones answer 503 and 404.
    events: list[dict] = [{}] * 3 + [{}] * 30
    events[3 + 3] = {"stall_s": 1.2}
    events[3 + 4] = {"stall_s": 5}
    events[3 + 22] = {"status": 503}
    events[3 + 25] = {"status": 404}
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(event) + "\n" for event in events))
    samples = tmp_path / "samples.csv"
    result = cli(
        "-o",
        "json",
        "loadtest",
        "--target",
        "lambda",
        "--function",
        stall_function,
        "--rate",
        "3",
        "--duration",
        "10",
        "--warmup",
        "1",
        "--max-in-flight",
        "1",
        "--timeout",
        "2.5",
        "--requests",
        str(requests),
        "--samples",
        str(samples),
    )
    assert result.exit_code == 0, result.output
    load = json.loads(result.stdout)
    assert load["requests"] == 30 and load["warmup_requests"] == 3
    assert load["errors"]["timeout"] == 1 and load["errors"]["5xx"] == 1 and load["errors"]["4xx"] == 1
    assert load["dropped"] >= 1
    assert load["ok"] == 30 - 3 - load["dropped"]
    # The timeout counts in the figures (only successes, the service-time p99 would be the 1.2 s stall) ...
    assert load["service_ms"]["p99"] >= 2500
    # ... and the wait behind the stalls, which a generator measuring from the send never sees.
    assert load["latency_ms"]["p99"] > load["service_ms"]["p99"] + 500
    assert load["latency_ms"]["p90"] > load["service_ms"]["p90"]
    rows = list(csv.DictReader(samples.open()))
    assert len(rows) == 33 and sum(row["warmup"] == "1" for row in rows) == 3
    assert {row["outcome"] for row in rows} >= {"ok", "timeout", "dropped", "4xx", "5xx"}
    assert load["samples"] == str(samples)


def test_requests_file_replays_image_paths_and_urls(served_model, digits_dir: Path, tmp_path: Path):
    image = next((digits_dir / "test").rglob("*.png"))
    requests = tmp_path / "requests.jsonl"
    # An image by path (relative to the file), and a URL the endpoint refuses to fetch (loopback: its SSRF rule).
    requests.write_text(json.dumps(str(image)) + "\n\n" + json.dumps("http://127.0.0.1:9/digit.png") + "\n")
    result = cli(
        "-o",
        "json",
        "loadtest",
        "--endpoint",
        served_model,
        "--rate",
        "4",
        "--duration",
        "1",
        "--requests",
        str(requests),
    )
    assert result.exit_code == 0, result.output
    load = json.loads(result.stdout)
    assert load["requests"] == 4 and load["ok"] == 2 and load["errors"]["4xx"] == 2  # in order: ok, 4xx, ok, 4xx


def test_samples_never_replace_what_mlops_did_not_write(tmp_path: Path):
    """--samples is checked before any request: a user's file, a symlink, a folder or a device is refused (exit
    2, nothing touched); only a samples CSV mlops wrote may be replaced."""
    mine = tmp_path / "notes.csv"
    mine.write_text("due_s,latency_ms\n1,2\n")
    mine.chmod(0o644)
    link = tmp_path / "link.csv"
    link.symlink_to("/proc/self/fd/1")
    for path, message in [
        (mine, "not a samples CSV written by mlops"),
        (link, "a symlink"),
        (tmp_path, "a folder"),
        (Path("/dev/null"), "not a regular file"),
        (tmp_path / "no-folder" / "s.csv", "no such folder"),
    ]:
        result = cli("--dry-run", "loadtest", "--samples", str(path), "--images", str(tmp_path))
        assert result.exit_code == 2 and message in result.stderr, (path, result.output)
    assert mine.read_text() == "due_s,latency_ms\n1,2\n" and mine.stat().st_mode & 0o777 == 0o644
    assert link.is_symlink()

    from mlops_cli.services.deploy.loadtest import Sample, check_samples_path, write_samples

    ours = tmp_path / "ours.csv"
    write_samples(ours, [Sample(0.0, 1.0, 1.0, "ok")])
    check_samples_path(ours)  # a samples CSV mlops wrote: replaced without a word
    write_samples(ours, [Sample(0.0, 2.0, 2.0, "ok")])
    assert ours.read_text().splitlines()[1].startswith("0.0000,2.000")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{}\n[1, 2]\n", "line 2: expected a JSON object"),
        ("{not json\n", "line 1"),
        ('"missing.png"\n', "missing.png is not a JPEG"),
        ("\n\n", "no requests in it"),
        ('{"pad": "' + "x" * (6 * 1024 * 1024) + '"}\n', "line 1: larger than the 6291456-byte limit"),
    ],
)
def test_a_bad_requests_file_exits_2_naming_the_line(tmp_path: Path, content: str, message: str):
    requests = tmp_path / "requests.jsonl"
    requests.write_text(content)
    result = cli("loadtest", "--requests", str(requests))
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output
