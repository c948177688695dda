"""`mlops tune` against the local AWS: real tuning jobs whose trials are real local training jobs (configs/local.yaml's
recipe, one epoch, a small slice of the digits), followed to the end, stopped early by the median rule, interrupted
both ways, and their best model written as a config overlay, listed, torn down and deployed.

Runtime: about 14 one-epoch trials of a few seconds each, most of them two at a time, and one endpoint start.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.helpers import LOCAL_CONFIG
from tests.interrupt import DEADLINE_S, interrupted

JOB = "digits-tune-e2e"
TWO_LONG_TRIALS = ("--max-jobs", "2", "--parallel", "2", "--hp", "epochs=50")  # both run until stopped
PARENT_RANGES = ("--range", "lr=0.0005:0.05:log", "--range", "batch_size=16,32")  # the tuned job's, and its children's


@dataclass
class TuneRun:
    document: dict
    stderr: str
    best_file: Path
    plot: Path


@pytest.fixture(scope="module")
def tuned(small_digits_in_s3, tmp_path_factory) -> TuneRun:
    """4 trials, 2 at a time, random values on a log-scale lr and a categorical batch size."""
    from typer.testing import CliRunner

    from mlops_cli.app import app

    folder = tmp_path_factory.mktemp("tune")
    best_file, plot = folder / "best.yaml", folder / "tuning.png"
    result = CliRunner().invoke(
        app,
        [
            "-c",
            str(LOCAL_CONFIG),
            "-o",
            "json",
            "tune",
            "--job-name",
            JOB,
            "--strategy",
            "random",
            "--max-jobs",
            "4",
            "--parallel",
            "2",
            *PARENT_RANGES,
            "--hp",
            "epochs=1",
            "--write-best",
            str(best_file),
            "--plot",
            str(plot),
        ],
        env=small_digits_in_s3,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output[-3000:]
    return TuneRun(json.loads(result.stdout), result.stderr, best_file, plot)


def wait_until_ended(sagemaker, name: str) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    while (described := sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name))[
        "HyperParameterTuningJobStatus"
    ] not in ("Completed", "Failed", "Stopped") and time.monotonic() < deadline:
        time.sleep(0.5)
    return described


def test_four_trials_two_at_a_time_complete_with_the_best_found(tuned, boto_client, aws_cli):
    document = tuned.document
    assert document["tuning_job"] == JOB and document["status"] == "Completed"
    trials = document["trials"]
    assert len(trials) == 4 and {trial["status"] for trial in trials} == {"Completed"}
    assert document["counts"]["training_jobs"]["Completed"] == 4
    assert document["counts"]["objectives"]["Succeeded"] == 4

    # Values lie in the ranges and differ.
    assert all(
        0.0005 <= trial["values"]["lr"] <= 0.05 and trial["values"]["batch_size"] in (16, 32) for trial in trials
    )
    assert len({trial["values"]["lr"] for trial in trials}) == 4

    # Never more than two trials at once, and two did run together.
    sagemaker = boto_client("sagemaker")
    spans = []
    for trial in trials:
        described = sagemaker.describe_training_job(TrainingJobName=trial["name"])
        assert described["TrainingJobStatus"] == "Completed"
        spans.append((described["CreationTime"], described["TrainingEndTime"]))
    running_at_each_start = [sum(start <= moment < end for start, end in spans) for moment, _ in spans]
    assert max(running_at_each_start) == 2

    # The best job is the one with the best (lowest) objective; AWS's own answers agree.
    best = min(trials, key=lambda trial: trial["objective"])
    assert document["best"]["training_job"] == best["name"]
    assert document["best"]["objective"] == {"name": "valid_loss", "value": best["objective"]}
    assert document["best"]["hyperparameters"] == best["values"]
    assert document["best"]["metrics"]["valid_loss"] == best["objective"]
    described = aws_cli("sagemaker", "describe-hyper-parameter-tuning-job", "--hyper-parameter-tuning-job-name", JOB)
    assert described["BestTrainingJob"]["TrainingJobName"] == best["name"]
    assert described["TrainingJobStatusCounters"]["Completed"] == 4
    listed = aws_cli(
        "sagemaker",
        "list-training-jobs-for-hyper-parameter-tuning-job",
        "--hyper-parameter-tuning-job-name",
        JOB,
        "--sort-by",
        "FinalObjectiveMetricValue",
    )
    summaries = listed["TrainingJobSummaries"]
    assert [item["TrainingJobName"] for item in summaries] == [
        trial["name"] for trial in sorted(trials, key=lambda t: t["objective"])
    ]
    assert all(item["TuningJobName"] == JOB and item["ObjectiveStatus"] == "Succeeded" for item in summaries)

    # Followed without a terminal: one line per trial change.
    assert f"trial {trials[0]['name']} Completed" in tuned.stderr


def user_hyperparameters(encoded: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in encoded.items() if not name.startswith("sagemaker_")}


def test_write_best_reproduces_the_best_trial_static_overrides_included(tuned, mlops, boto_client):
    best = tuned.document["best"]
    overlay = yaml.safe_load(tuned.best_file.read_text())
    assert {name: overlay["train"]["hyperparameters"][name] for name in best["hyperparameters"]} == best[
        "hyperparameters"
    ]
    assert overlay["train"]["hyperparameters"]["epochs"] == 1  # tuned with --hp epochs=1; the config says 2
    result = mlops("-c", str(tuned.best_file), "-o", "json", "--dry-run", "train", "--instance-count", "2")
    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)["steps"][-1]["params"]["HyperParameters"]
    trained = boto_client("sagemaker").describe_training_job(TrainingJobName=best["training_job"])["HyperParameters"]
    assert user_hyperparameters(planned) == user_hyperparameters(trained)  # every value the trial ran with


def test_plot_shows_the_trials(tuned):
    assert tuned.document["plot"] == str(tuned.plot)
    header = tuned.plot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")) == (1000, 750)


def test_status_lists_tuning_jobs(tuned, mlops):
    result = mlops("-o", "json", "status")
    assert result.exit_code == 0, result.output
    listed = {job["name"]: job for job in json.loads(result.stdout)["tuning_jobs"]}
    assert listed[JOB]["status"] == "Completed" and listed[JOB]["trials"]["Completed"] == 4


def test_deploy_tuning_job_serves_the_best_model(tuned, mlops, boto_client, digits_dir):
    endpoint = "digits-tuned"
    best = boto_client("sagemaker").describe_training_job(TrainingJobName=tuned.document["best"]["training_job"])
    result = mlops("-o", "json", "deploy", "--tuning-job", JOB, "--endpoint", endpoint)
    try:
        assert result.exit_code == 0, result.output
        deployed = json.loads(result.stdout)
        assert deployed["model_data"] == best["ModelArtifacts"]["S3ModelArtifacts"]
        assert deployed["artifact_source"] == f"best training job {best['TrainingJobName']} of tuning job {JOB}"
        image = next(iter(sorted((digits_dir / "test").glob("*/*"))))
        answer = mlops("-o", "json", "invoke", "--endpoint", endpoint, str(image))
        assert answer.exit_code == 0, answer.output
        assert len(json.loads(answer.stdout)["predictions"]) == 5
    finally:
        mlops("teardown", "--endpoint", endpoint, "--yes")


def test_deploy_tuning_job_without_a_best_trial_exits_2(mlops, local_aws):
    result = mlops("deploy", "--tuning-job", "digits-no-such-tuning")
    assert result.exit_code == 2 and "--tuning-job digits-no-such-tuning: no such tuning job" in result.stderr


@pytest.mark.parametrize(
    "name, strategy",
    [
        # One at a time, in grid order: a sane lr, then lr=5, whose first epoch is far worse than the median.
        ("digits-tune-stopping", ["--strategy", "grid", "--early-stopping", "auto"]),
        # The seed and the job's name (which places trials in brackets) make the first trial the sane lr and the
        # second lr=5, in the same bracket, whose rungs are epochs 1 and 3: worse than the first at epoch 1.
        ("digits-hyperband-1", ["--strategy", "hyperband", "--seed", "10", "--max-jobs", "2"]),
    ],
    ids=["median-rule", "hyperband"],
)
@pytest.mark.training
def test_a_clearly_worse_trial_is_stopped_early(small_digits_in_s3, mlops, boto_client, name, strategy):
    result = mlops(
        "-o",
        "json",
        "tune",
        "--job-name",
        name,
        *strategy,
        "--range",
        "lr=0.003,5",
        "--parallel",
        "1",
        "--hp",
        "epochs=3",
        env=small_digits_in_s3,
    )
    assert result.exit_code == 0, result.output[-3000:]
    document = json.loads(result.stdout)
    sane, terrible = document["trials"]
    assert (sane["values"]["lr"], sane["status"]) == (0.003, "Completed")
    assert (terrible["values"]["lr"], terrible["status"]) == (5, "Stopped")
    assert document["counts"]["training_jobs"]["Stopped"] == 1
    assert document["best"]["training_job"] == sane["name"]
    sagemaker = boto_client("sagemaker")
    assert sagemaker.describe_training_job(TrainingJobName=terrible["name"])["TrainingJobStatus"] == "Stopped"
    if "hyperband" in strategy:  # its resource is the epochs: from 1 to all of them
        job_config = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "HyperParameterTuningJobConfig"
        ]
        assert job_config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 3}}


@pytest.mark.training
def test_ctrl_c_with_yes_stops_the_tuning_job_and_its_trials(small_digits_in_s3, boto_client):
    command = [
        sys.executable,
        "-m",
        "mlops_cli",
        "-c",
        str(LOCAL_CONFIG),
        "tune",
        "--job-name",
        "digits-tune-stop",
        *TWO_LONG_TRIALS,
        "--yes",
    ]
    process, seen, rest = interrupted(command, lambda line: line.startswith("trial "), env=small_digits_in_s3)
    assert process.returncode == 130, seen + rest
    assert "stop requested for tuning job digits-tune-stop" in rest
    sagemaker = boto_client("sagemaker")
    described = wait_until_ended(sagemaker, "digits-tune-stop")
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    trials = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="digits-tune-stop"
    )["TrainingJobSummaries"]
    assert trials and {trial["TrainingJobStatus"] for trial in trials} == {"Stopped"}
    assert described["TrainingJobStatusCounters"]["Stopped"] == len(trials)


@pytest.mark.training
def test_ctrl_c_without_a_terminal_leaves_it_running_and_teardown_all_stops_it(small_digits_in_s3, boto_client, mlops):
    # Its own project (teardown --all touches it only), and a name without the project's prefix: status and
    # teardown find it, and its trials, by the project tag alone.
    project = {**small_digits_in_s3, "MLOPS_PROJECT": "tunetd"}
    command = [
        sys.executable,
        "-m",
        "mlops_cli",
        "-c",
        str(LOCAL_CONFIG),
        "tune",
        "--job-name",
        "left-by-tag",
        *TWO_LONG_TRIALS,
    ]
    process, _, rest = interrupted(
        command, lambda line: "tuning job left-by-tag created" in line, stdin=subprocess.DEVNULL, env=project
    )
    assert process.returncode == 130
    assert "tuning job left-by-tag is still running in AWS" in rest
    assert "aws sagemaker stop-hyper-parameter-tuning-job --hyper-parameter-tuning-job-name left-by-tag" in rest
    sagemaker = boto_client("sagemaker")
    assert (
        sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="left-by-tag")[
            "HyperParameterTuningJobStatus"
        ]
        == "InProgress"
    )

    status = json.loads(mlops("-o", "json", "status", env=project).stdout)
    assert [(job["name"], job["status"]) for job in status["tuning_jobs"]] == [("left-by-tag", "InProgress")]
    assert {job["name"].rsplit("-", 2)[0] for job in status["training_jobs"]} == {"left-by-tag"}  # its trials
    result = mlops("-o", "json", "teardown", "--all", "--yes", env=project)
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["steps"]
    assert {"operation": "StopHyperParameterTuningJob", "resource": "left-by-tag", "outcome": "stopped"} in steps
    assert not [step for step in steps if step["operation"] == "StopTrainingJob"]  # its trials stop with it
    assert wait_until_ended(sagemaker, "left-by-tag")["HyperParameterTuningJobStatus"] == "Stopped"


def first_trials(sagemaker, name: str, count: int) -> list[dict]:
    """The tuned values of the tuning job's first `count` trials, once launched; then the job is stopped."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        trials = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "TrainingJobSummaries"
        ]
        if len(trials) >= count:
            break
        time.sleep(0.2)
    sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    wait_until_ended(sagemaker, name)
    return [trial["TunedHyperParameters"] for trial in sorted(trials, key=lambda trial: trial["TrainingJobName"])]


def test_the_same_seed_gives_the_same_values_and_a_warm_start_changes_them(
    tuned, small_digits_in_s3, mlops, boto_client
):
    sagemaker = boto_client("sagemaker")

    def launch(name: str, *extra: str) -> list[dict]:
        result = mlops(
            "tune",
            "--job-name",
            name,
            "--strategy",
            "bayesian",
            "--seed",
            "11",
            *TWO_LONG_TRIALS,
            *PARENT_RANGES,
            "--no-wait",
            *extra,
            env=small_digits_in_s3,
        )
        assert result.exit_code == 0, result.output
        return first_trials(sagemaker, name, 2)

    first = launch("digits-seed-a")
    assert (
        sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="digits-seed-a")[
            "HyperParameterTuningJobConfig"
        ]["RandomSeed"]
        == 11
    )
    assert launch("digits-seed-b") == first
    # The parent's 4 trials exceed the 3 random startup trials (2 ranges + 1): TPE chooses from the first trial.
    assert launch("digits-seed-warm", "--warm-start", JOB) != first


def test_warm_start_reports_the_overall_best_and_writes_its_values(
    tuned, small_digits_in_s3, mlops, boto_client, tmp_path
):
    # One trial with a learning rate so large that it diverges (a finite loss of about 10^7 after an epoch): the
    # parent's best stays the best overall.
    # Its own project, and a name without the project's prefix: deploy finds its trial by the project tag alone.
    project = {**small_digits_in_s3, "MLOPS_PROJECT": "tagonly"}
    best_file = tmp_path / "best.yaml"
    result = mlops(
        "-o",
        "json",
        "tune",
        "--job-name",
        "warm-child",
        "--warm-start",
        JOB,
        "--max-jobs",
        "1",
        "--parallel",
        "1",
        "--range",
        "lr=0.2:0.3",
        "--range",
        "batch_size=16,32",
        "--hp",
        "epochs=1",
        "--write-best",
        str(best_file),
        env=project,
    )
    assert result.exit_code == 0, result.output[-3000:]
    document = json.loads(result.stdout)
    [child] = document["trials"]
    parent_best = tuned.document["best"]
    assert child["objective"] > parent_best["objective"]["value"]
    assert document["best"]["training_job"] == parent_best["training_job"]
    assert document["best"]["tuning_job"] == JOB
    overlay = yaml.safe_load(best_file.read_text())["train"]["hyperparameters"]
    assert overlay["lr"] == parent_best["hyperparameters"]["lr"]

    planned = json.loads(mlops("-o", "json", "--dry-run", "deploy", env=project).stdout)
    [create_model] = [step for step in planned["steps"] if step["operation"] == "CreateModel"]
    trained = boto_client("sagemaker").describe_training_job(TrainingJobName=child["name"])
    assert create_model["params"]["PrimaryContainer"]["ModelDataUrl"] == trained["ModelArtifacts"]["S3ModelArtifacts"]


def test_the_local_aws_refuses_tuning_requests_sagemaker_refuses(tuned, mlops, boto_client):
    from botocore.exceptions import ClientError

    plan = json.loads(mlops("-o", "json", "--dry-run", "tune", "--job-name", "digits-refused").stdout)
    request = plan["steps"][-1]["params"]
    sagemaker = boto_client("sagemaker")
    # The dry run assumes an account where nothing exists yet: use the role the real tuning job was given.
    request["TrainingJobDefinition"]["RoleArn"] = sagemaker.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=JOB
    )["TrainingJobDefinition"]["RoleArn"]

    def refused(change) -> str:
        changed = json.loads(json.dumps(request))
        change(changed)
        with pytest.raises(ClientError) as caught:
            sagemaker.create_hyper_parameter_tuning_job(**changed)
        return caught.value.response["Error"]["Message"]

    def both_static_and_tuned(changed):
        changed["TrainingJobDefinition"]["StaticHyperParameters"]["lr"] = "0.1"

    def grid_with_a_continuous_range(changed):
        changed["HyperParameterTuningJobConfig"]["Strategy"] = "Grid"

    def hyperband_with_early_stopping(changed):
        changed["HyperParameterTuningJobConfig"].update(Strategy="Hyperband", TrainingJobEarlyStoppingType="Auto")

    def reverse_log_above_one(changed):
        changed["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0].update(
            MinValue="0.5", MaxValue="2", ScalingType="ReverseLogarithmic"
        )

    def hyperband_without_max_resource(changed):
        changed["HyperParameterTuningJobConfig"].update(Strategy="Hyperband")
        changed["HyperParameterTuningJobConfig"].pop("StrategyConfig", None)
        changed["TrainingJobDefinition"]["StaticHyperParameters"].pop("epochs")

    assert "both static and tunable" in refused(both_static_and_tuned)
    assert "0 <= x < 1.0" in refused(reverse_log_above_one)
    assert "MaxResource could not be inferred" in refused(hyperband_without_max_resource)
    assert "only categorical" in refused(grid_with_a_continuous_range)
    assert "must be Off" in refused(hyperband_with_early_stopping)
    with pytest.raises(ClientError) as caught:
        sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="digits-refused")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFound"
