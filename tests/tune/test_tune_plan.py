"""`mlops tune --dry-run`: the CreateHyperParameterTuningJob request (valid by botocore's model, the training job
definition `mlops train` builds, tuned and static hyperparameters split), the strategies' rules, and bad ranges and
objectives refused with exit 2 naming the flag. No AWS is needed here; the local tuner's value choosers and the
median stopping rule are checked directly."""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
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

    request, plan = tune_plan("--job-name", "dog-breeds-tune", "--seed", "2147483647", config=DEFAULT_CONFIG)
    for step in plan["steps"]:
        assert model_errors(step["service"], step["operation"], step["params"]) == "", step["operation"]
        # Enums, patterns and lengths too, as AWS's validation layer checks them (the strict local AWS's checker).
        assert check_params(step["service"], step["operation"], step["params"]) == [], step["operation"]
    job_config = request["HyperParameterTuningJobConfig"]
    assert job_config["Strategy"] == "Bayesian" and job_config["RandomSeed"] == 2147483647
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
        (["--objective", "test_loss:min"], "--objective test_loss:min", "measured on the test split"),
        (["--objective", "test_acc:max"], "--objective test_acc:max", "fits the hyperparameters to the test set"),
        (["--objective", "images_per_s:max"], "--objective images_per_s:max", "tune on one of train_loss"),
        (["--range", "weight_decay=0.5:1.5:reverselog"], "--range weight_decay", "needs 0 <= LOW < HIGH < 1"),
        (["--range", "epochs=1:3:reverselog"], "--range epochs=1:3:reverselog", "continuous ranges only"),
        (["--seed", "-1"], "--seed -1", "expected 0 to 2147483647"),
        (["--plot", "run.png", "--no-wait"], "--plot", "leave out --no-wait"),
        (["--plot", "run.svg"], "--plot run.svg", "*.png"),
        (["--strategy", "grid", "--range", "lr=0.001:0.1"], "--strategy grid", "lr is LOW:HIGH"),
        (["--strategy", "hyperband", "--early-stopping", "auto"], "--early-stopping auto", "hyperband"),
        (["--strategy", "annealing"], "--strategy annealing", "expected one of"),
        (["--max-jobs", "2", "--parallel", "3"], "--parallel 3", "more than --max-jobs"),
        (["--job-name", "a-name-longer-than-thirty-two-chars"], "--job-name", "1-32"),
    ],
)
def test_bad_ranges_and_objectives_exit_2_naming_the_flag(mlops, args, flag, reason):
    result = mlops("--dry-run", "tune", *args, config=DEFAULT_CONFIG)
    assert result.exit_code == 2, result.output
    assert flag in result.stderr and reason in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_a_test_split_objective_in_config_names_the_file_and_key(mlops, tmp_path):
    config = tmp_path / "leaky.yaml"
    config.write_text("tune:\n  objective: test_acc:max\n")
    result = mlops("--dry-run", "tune", config=config)
    assert result.exit_code == 2, result.output
    assert f"{config}:2" in result.stderr and "tune.objective" in result.stderr and "test split" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # the line, and at most a hint


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
    from mlops_cli.common.parameter_ranges import from_aws
    from mlops_cli.config.tuning_ranges import parameter_ranges, parse_range

    return from_aws(parameter_ranges([parse_range(name, spec) for name, spec in specs.items()]))


def test_random_and_bayesian_values_respect_the_scale():
    from mlops_cli.local.sagemaker.tuning_strategies import bayesian_chooser, random_chooser

    [log_range] = as_received(lr="0.0001:0.1:log")
    [linear_range] = as_received(lr="0.0001:0.1:linear")
    chooser = random_chooser([log_range], seed=1, maximize=False, history=[])
    log_values = [float(chooser.ask()[0]["lr"]) for _ in range(2000)]
    chooser = random_chooser([linear_range], seed=1, maximize=False, history=[])
    linear_values = [float(chooser.ask()[0]["lr"]) for _ in range(2000)]
    assert all(0.0001 <= value <= 0.1 for value in log_values + linear_values)
    # Log-uniform: the median sits at the geometric middle (10^-2.5); linear: at the arithmetic one (0.05).
    assert abs(math.log10(statistics.median(log_values)) + 2.5) < 0.1
    assert abs(statistics.median(linear_values) - 0.05) < 0.005

    bayesian = bayesian_chooser(
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
    from mlops_cli.local.sagemaker.tuning_strategies import median_rule_stops

    def trial(*history: float) -> list[float]:
        return list(history)

    earlier = [trial(1.0, 0.5, 0.3), trial(2.0, 1.0), trial(0.8)]
    # At epoch 2 the earlier running averages are 0.75 and 1.5: median 1.125.
    assert median_rule_stops(trial(3.0, 1.2), earlier, maximize=False)
    assert not median_rule_stops(trial(3.0, 1.1), earlier, maximize=False)
    assert median_rule_stops(trial(0.1, 0.2), earlier, maximize=True)
    assert median_rule_stops(trial(float("nan")), earlier, maximize=False)  # a diverged trial is the worst
    assert not median_rule_stops(trial(9.0, 9.0, 9.0, 9.0), earlier, maximize=False)  # no earlier trial got there
    assert not median_rule_stops(trial(9.0), [], maximize=False)


def test_integer_ranges_draw_each_value_equally_endpoints_included():
    from mlops_cli.local.sagemaker.tuning_strategies import random_chooser

    [item] = as_received(epochs="1:3:linear")
    chooser = random_chooser([item], seed=3, maximize=False, history=[])
    drawn = Counter(chooser.ask()[0]["epochs"] for _ in range(9_000))
    assert set(drawn) == {"1", "2", "3"}
    assert all(abs(count / 9_000 - 1 / 3) < 0.02 for count in drawn.values()), drawn  # not 1/4, 1/2, 1/4
    [item] = as_received(epochs="1:4:log")  # log: uniform in log space, each integer's share of it
    chooser = random_chooser([item], seed=3, maximize=False, history=[])
    drawn = Counter(chooser.ask()[0]["epochs"] for _ in range(9_000))
    share = {value: math.log((value + 0.5) / (value - 0.5)) / math.log(4.5 / 0.5) for value in (1, 2, 3, 4)}
    assert all(abs(drawn[str(value)] / 9_000 - share[value]) < 0.02 for value in share), drawn


def test_reverse_logarithmic_and_auto_scales():
    from mlops_cli.common.parameter_ranges import ParameterRange
    from mlops_cli.local.sagemaker.ranges import search_scale
    from mlops_cli.local.sagemaker.tuning_strategies import random_chooser

    [item] = as_received(weight_decay="0.9:0.999:reverselog")
    assert item.scale == "ReverseLogarithmic"
    chooser = random_chooser([item], seed=1, maximize=False, history=[])
    values = [float(chooser.ask()[0]["weight_decay"]) for _ in range(4000)]
    assert all(0.9 <= value <= 0.999 for value in values)
    # 1 - x is log-uniform on 0.001..0.1: the median sits at 1 - 0.01, and a tenth lies above 1 - 10^-2.8.
    assert abs(statistics.median(values) - 0.99) < 0.002
    assert abs(sum(value > 1 - 10**-2.8 for value in values) / 4000 - 0.1) < 0.02

    # Auto: log when the range lies above 0 and spans two orders of magnitude, else linear.
    assert as_received(lr="0.0001:0.1")[0].scale == "Auto"
    assert search_scale(ParameterRange("lr", "Continuous", 0.0001, 0.1)) == "Logarithmic"
    assert search_scale(ParameterRange("lr", "Continuous", 0.001, 0.05)) == "Linear"
    assert search_scale(ParameterRange("weight_decay", "Continuous", 0.0, 0.1)) == "Linear"
    chooser = random_chooser(as_received(lr="0.0001:0.1:auto"), seed=1, maximize=False, history=[])
    auto_values = [float(chooser.ask()[0]["lr"]) for _ in range(2000)]
    assert abs(math.log10(statistics.median(auto_values)) + 2.5) < 0.1


def lr_distance(values: dict[str, str]) -> float:
    """A synthetic objective with a clear optimum at lr = 0.001 (no training)."""
    return abs(math.log10(float(values["lr"])) + 3)


def test_tpe_leaves_random_search_within_the_first_four_trials():
    from mlops_cli.local.sagemaker.tuning_strategies import bayesian_chooser, random_chooser

    ranges = as_received(lr="0.0001:0.1:log")  # one range: 2 random startup trials, then TPE
    for seed in range(5):
        bayesian = bayesian_chooser(ranges, seed=seed, maximize=False, history=[])
        random = random_chooser(ranges, seed=seed, maximize=False, history=[])
        asked = {"bayesian": [], "random": []}
        for _ in range(4):
            for name, chooser in (("bayesian", bayesian), ("random", random)):
                values, token = chooser.ask()
                chooser.tell(token, lr_distance(values))
                asked[name].append(values["lr"])
        assert asked["bayesian"][:2] == asked["random"][:2]  # the startup trials: random, from the same seed
        assert asked["bayesian"][2] != asked["random"][2] and asked["bayesian"][3] != asked["random"][3]
        # TPE samples where the better startup trial was: its third value is nearer that trial's.
        better = min(asked["bayesian"][:2], key=lambda lr: lr_distance({"lr": lr}))
        assert abs(math.log10(float(asked["bayesian"][2]) / float(better))) < 1.5


def test_warm_start_parents_change_the_first_values_asked():
    from mlops_cli.local.sagemaker.tuning_strategies import bayesian_chooser

    ranges = as_received(lr="0.0001:0.1:log", batch_size=[16, 32])
    parents = [
        ({"lr": repr(lr), "batch_size": "32"}, lr_distance({"lr": repr(lr)}))
        for lr in (0.0002, 0.0009, 0.0011, 0.01, 0.05, 0.08)
    ]
    parents.append(({"lr": "0.5", "batch_size": "32"}, 9.0))  # outside this job's range: left out
    for seed in range(3):
        cold = bayesian_chooser(ranges, seed=seed, maximize=False, history=[])
        warm = bayesian_chooser(ranges, seed=seed, maximize=False, history=parents)
        assert len(warm.study.trials) == 6
        first_cold = [cold.ask()[0] for _ in range(2)]
        first_warm = [warm.ask()[0] for _ in range(2)]
        assert first_cold != first_warm
        again = bayesian_chooser(ranges, seed=seed, maximize=False, history=parents)
        assert [again.ask()[0] for _ in range(2)] == first_warm  # the same seed, the same values


def test_hyperband_stops_trials_at_the_rungs_of_their_bracket():
    from mlops_cli.local.sagemaker.tuning_runner import hyperband_resources
    from mlops_cli.local.sagemaker.tuning_strategies import hyperband_chooser

    chooser = hyperband_chooser(
        as_received(lr="0.0001:0.1:log"), 1, False, [], min_resource=1, max_resource=9, name="digits-hb"
    )
    stopped_at = []
    for _ in range(12):  # each trial reports its objective after every epoch, as the tuner reads it
        values, token = chooser.ask()
        quality = lr_distance(values)
        epoch = 0
        for epoch in range(1, 10):
            if chooser.stops(token, epoch, quality + 1 / epoch):
                break
        stopped_at.append(epoch)
        chooser.tell(token, quality + 1 / epoch)
    # Trials are stopped only at rungs (MinResource x 3^k epochs: 1, 3), and some run to MaxResource.
    assert set(stopped_at) - {9} <= {1, 3} and 9 in stopped_at and len(set(stopped_at)) > 1

    static = {"epochs": "7"}
    assert hyperband_resources({}, {"StaticHyperParameters": static}) == (1, 7)  # inferred as AWS does
    config = {"StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 2, "MaxResource": 4}}}
    assert hyperband_resources(config, {"StaticHyperParameters": static}) == (2, 4)
    with pytest.raises(ValueError, match="MaxResource could not be inferred"):
        hyperband_resources({}, {"StaticHyperParameters": {}})


@pytest.mark.parametrize(
    ("objective", "warning"),
    [
        ("valid_acc:min", "objective valid_acc:min minimises an accuracy: the search will look for the worst models"),
        ("train_loss:max", "objective train_loss:max maximises a loss"),
        ("valid_loss:min", None),
        ("valid_acc:max", None),
    ],
)
def test_an_objective_optimised_the_wrong_way_is_warned_about(mlops, objective, warning):
    result = mlops("--dry-run", "tune", "--objective", objective, config=DEFAULT_CONFIG)
    assert result.exit_code == 0, result.output
    if warning:
        assert f"warning: {warning}" in " ".join(result.stderr.split())
    else:
        assert "warning: objective" not in result.stderr
