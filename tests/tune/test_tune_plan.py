"""`mlops tune --dry-run`: the CreateHyperParameterTuningJob request (valid by botocore's model, the training job
definition `mlops train` builds, tuned and static hyperparameters split), the strategies' rules, and bad ranges and
objectives refused with exit 2 naming the flag. No AWS is needed here; the local tuner's value choosers and the
median stopping rule are checked directly."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from tests.helpers import REPO

DEFAULT_CONFIG = REPO / "configs" / "default.yaml"


@pytest.fixture
def tune_plan(mlops):
    """`mlops tune --dry-run ARGS` -> (CreateHyperParameterTuningJob params, the whole plan)."""

    def run(*args: str, config: Path | None = None):
        result = mlops("-o", "json", "--dry-run", "tune", *args, **({"config": config} if config else {}))
        assert result.exit_code == 0, result.output
        plan = json.loads(result.stdout)
        create = [step for step in plan["steps"] if step["operation"] == "CreateHyperParameterTuningJob"]
        assert len(create) == 1
        return create[0]["params"], plan

    return run


def model_errors(service: str, operation: str, params: dict) -> str:
    """botocore's own validation of a request against the service model (required members, types, ranges)."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    return report.generate_report()


def test_real_aws_plan_is_a_valid_request_by_botocores_model(tune_plan):
    from mlops_cli.local.core.validate import check_params

    request, plan = tune_plan("--job-name", "dog-breeds-tune", config=DEFAULT_CONFIG)
    for step in plan["steps"]:
        assert model_errors(step["service"], step["operation"], step["params"]) == "", step["operation"]
        # Enums, patterns and lengths too, as AWS's validation layer checks them (the strict local AWS's checker).
        assert check_params(step["service"], step["operation"], step["params"]) == [], step["operation"]
    job_config = request["HyperParameterTuningJobConfig"]
    assert job_config["Strategy"] == "Bayesian"
    assert job_config["HyperParameterTuningJobObjective"] == {"Type": "Minimize", "MetricName": "valid_loss"}
    assert job_config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 2}
    assert job_config["ParameterRanges"] == {
        "ContinuousParameterRanges": [
            {"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"},
            {"Name": "weight_decay", "MinValue": "1e-05", "MaxValue": "0.01", "ScalingType": "Logarithmic"},
        ],
        "CategoricalParameterRanges": [{"Name": "batch_size", "Values": ["16", "32", "64", "128"]}],
    }
    # The role is generated (no role_arn in default.yaml): created before the tuning job, as for `train`.
    assert [step["operation"] for step in plan["steps"]] == [
        "CreateRole",
        "PutRolePolicy",
        "PutObject",
        "CreateHyperParameterTuningJob",
    ]


def test_trials_are_the_training_job_train_builds_with_hyperparameters_split(tune_plan, mlops):
    request, _ = tune_plan("--job-name", "digits-split", "--range", "lr=0.001:0.01:log", "--range", "batch_size=32,64")
    trained = json.loads(mlops("-o", "json", "--dry-run", "train", "--job-name", "digits-split").stdout)
    train_request = trained["steps"][-1]["params"]
    definition = dict(request["TrainingJobDefinition"])
    static = definition.pop("StaticHyperParameters")
    expected = {
        key: value for key, value in train_request.items() if key not in ("TrainingJobName", "Tags", "HyperParameters")
    }
    expected["AlgorithmSpecification"] = {
        key: value
        for key, value in expected["AlgorithmSpecification"].items()
        if key != "EnableSageMakerMetricsTimeSeries"
    }
    assert definition == expected
    assert static == {
        key: value for key, value in train_request["HyperParameters"].items() if key not in ("lr", "batch_size")
    }
    assert request["Tags"] == train_request["Tags"]


def test_strategies_and_their_rules(tune_plan):
    request, _ = tune_plan("--strategy", "hyperband", "--job-name", "digits-hb")
    job_config = request["HyperParameterTuningJobConfig"]
    assert job_config["Strategy"] == "Hyperband" and job_config["TrainingJobEarlyStoppingType"] == "Off"
    assert job_config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 2}}

    request, _ = tune_plan("--strategy", "grid", "--range", "batch_size=16,32", "--range", "lr=0.001,0.01")
    job_config = request["HyperParameterTuningJobConfig"]
    assert job_config["ResourceLimits"] == {"MaxParallelTrainingJobs": 2}  # grid counts the combinations itself
    assert job_config["ParameterRanges"] == {
        "CategoricalParameterRanges": [
            {"Name": "batch_size", "Values": ["16", "32"]},
            {"Name": "lr", "Values": ["0.001", "0.01"]},
        ]
    }

    request, _ = tune_plan(
        "--strategy",
        "random",
        "--early-stopping",
        "auto",
        "--objective",
        "valid_acc:max",
        "--warm-start",
        "digits-earlier",
        "--max-jobs",
        "6",
        "--parallel",
        "3",
        "--spot",
    )
    job_config = request["HyperParameterTuningJobConfig"]
    assert job_config["TrainingJobEarlyStoppingType"] == "Auto"
    assert job_config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "valid_acc"}
    assert job_config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 3}
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "digits-earlier"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    assert request["TrainingJobDefinition"]["EnableManagedSpotTraining"] is True
    assert request["TrainingJobDefinition"]["CheckpointConfig"]["S3Uri"].endswith(
        "/checkpoints/" + request["HyperParameterTuningJobName"]
    )


@pytest.mark.parametrize(
    "args, flag, reason",
    [
        (["--range", "lr=0:0.1:log"], "--range lr=0:0.1:log", "greater than 0"),
        (["--range", "weight_decay=0:0.1:log"], "--range weight_decay=0:0.1:log", "log scale needs LOW > 0"),
        (["--range", "lr=0.1:0.01"], "--range lr=0.1:0.01", "LOW (0.1) must be less than HIGH (0.01)"),
        (["--range", "lr=0.001:20"], "--range lr=0.001:20", "less than or equal to 10"),
        (["--range", "batch_size=0:64"], "--range batch_size=0:64", "greater than or equal to 1"),
        (["--range", "batch_size=8.5:64"], "--range batch_size=8.5:64", "is not an integer"),
        (["--range", "lr_schedule=cosine,sawtooth"], "--range lr_schedule=cosine,sawtooth", "cosine"),
        (["--range", "arch=1:2"], "--range arch=1:2", "takes categorical values"),
        (["--range", "lr=0.001:0.1:cubic"], "--range lr=0.001:0.1:cubic", "scale 'cubic'"),
        (["--range", "learning_rate=0.001:0.1"], "--range learning_rate=0.001:0.1", "unknown hyperparameter"),
        (["--range", "lr"], "--range lr", "expected NAME="),
        (["--objective", "valid_loss:down"], "--objective valid_loss:down", "expected NAME:min or NAME:max"),
        (["--objective", "accuracy:max"], "--objective accuracy:max", "unknown metric 'accuracy'"),
        (["--strategy", "grid", "--range", "lr=0.001:0.1"], "--strategy grid", "lr is LOW:HIGH"),
        (["--strategy", "hyperband", "--early-stopping", "auto"], "--early-stopping auto", "hyperband"),
        (["--strategy", "annealing"], "--strategy annealing", "expected one of"),
        (["--max-jobs", "2", "--parallel", "3"], "--parallel 3", "more than --max-jobs"),
        (["--job-name", "a-name-longer-than-thirty-two-chars"], "--job-name", "1-32"),
    ],
)
def test_bad_ranges_and_objectives_exit_2_naming_the_flag(mlops, args, flag, reason):
    result = mlops("--dry-run", "tune", *args)
    assert result.exit_code == 2, result.output
    assert flag in result.stderr and reason in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_a_bad_range_in_config_names_the_file_and_key(mlops, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("tune:\n  ranges:\n    lr: 0:1:log\n")
    result = mlops("--dry-run", "tune", config=config)
    assert result.exit_code == 2
    assert f"{config}:3" in result.stderr and "tune.ranges" in result.stderr and "greater than 0" in result.stderr


def test_write_best_never_replaces_a_file_it_did_not_write(mlops, tmp_path):
    mine = tmp_path / "notes.yaml"
    mine.write_text("my own notes\n")
    result = mlops("--dry-run", "tune", "--write-best", str(mine))
    assert result.exit_code == 2 and "--write-best" in result.stderr
    assert mine.read_text() == "my own notes\n"


# --- the local tuner's choices and its median rule ----------------------------------------------------


def as_received(**specs):
    """Ranges as the local tuner gets them: parsed, sent as ParameterRanges, read back."""
    from mlops_cli.local.sagemaker.ranges import ranges_from_request
    from mlops_cli.services.tuning_ranges import parameter_ranges, parse_range

    return ranges_from_request(parameter_ranges([parse_range(name, spec) for name, spec in specs.items()]))


def test_random_and_bayesian_values_respect_the_scale():
    from mlops_cli.local.sagemaker.tuning_strategies import BayesianChooser, RandomChooser

    [log_range] = as_received(lr="0.0001:0.1:log")
    [linear_range] = as_received(lr="0.0001:0.1:linear")
    chooser = RandomChooser([log_range], seed=1)
    log_values = [float(chooser.ask()[0]["lr"]) for _ in range(2000)]
    chooser = RandomChooser([linear_range], seed=1)
    linear_values = [float(chooser.ask()[0]["lr"]) for _ in range(2000)]
    assert all(0.0001 <= value <= 0.1 for value in log_values + linear_values)
    # Log-uniform: the median sits at the geometric middle (10^-2.5); linear: at the arithmetic one (0.05).
    assert abs(math.log10(statistics.median(log_values)) + 2.5) < 0.1
    assert abs(statistics.median(linear_values) - 0.05) < 0.005

    bayesian = BayesianChooser(
        as_received(lr="0.0001:0.1:log", batch_size=[16, 32]), seed=1, maximize=False, history=[]
    )
    asked = [bayesian.ask() for _ in range(40)]
    for values, token in asked:
        bayesian.tell(token, abs(math.log10(float(values["lr"])) + 3))  # best near lr = 0.001
    assert all(0.0001 <= float(values["lr"]) <= 0.1 and values["batch_size"] in ("16", "32") for values, _ in asked)
    assert abs(math.log10(statistics.median(float(values["lr"]) for values, _ in asked)) + 2.5) < 0.5


def test_grid_runs_every_combination_once():
    from mlops_cli.local.sagemaker.tuning_strategies import GridChooser

    chooser = GridChooser(as_received(batch_size="16,32", lr_schedule="cosine,step,none"))
    seen = []
    while (chosen := chooser.ask()) is not None:
        seen.append(chosen[0])
    assert chooser.size == 6 and len(seen) == 6
    assert {(item["batch_size"], item["lr_schedule"]) for item in seen} == {
        (size, schedule) for size in ("16", "32") for schedule in ('"cosine"', '"step"', '"none"')
    }


def test_median_rule_stops_a_trial_worse_than_the_median_of_earlier_running_averages():
    from mlops_cli.local.sagemaker.tuning_runner import Trial
    from mlops_cli.local.sagemaker.tuning_strategies import median_rule_stops

    def trial(*history: float) -> Trial:
        return Trial("t", {}, None, None, list(history))  # type: ignore[arg-type]

    earlier = [trial(1.0, 0.5, 0.3), trial(2.0, 1.0), trial(0.8)]
    # At epoch 2 the earlier running averages are 0.75 and 1.5: median 1.125.
    assert median_rule_stops(trial(3.0, 1.2), earlier, maximize=False)
    assert not median_rule_stops(trial(3.0, 1.1), earlier, maximize=False)
    assert median_rule_stops(trial(0.1, 0.2), earlier, maximize=True)
    assert median_rule_stops(trial(float("nan")), earlier, maximize=False)  # a diverged trial is the worst
    assert not median_rule_stops(trial(9.0, 9.0, 9.0, 9.0), earlier, maximize=False)  # no earlier trial got there
    assert not median_rule_stops(trial(9.0), [], maximize=False)
