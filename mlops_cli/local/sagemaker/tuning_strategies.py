"""How a tuning job chooses hyperparameter values, and when it stops a trial early.

- values: Grid runs every combination of the categorical values; Random, Bayesian and Hyperband ask an Optuna
  sampler over the ranges on their search scale (ranges.py): Random its RandomSampler (integers exactly uniform,
  endpoints included), Bayesian its TPE sampler, random for only the first (number of ranges + 1) trials and told
  every finished trial, the warm start parents' trials included (so they shape the first values asked), with a
  constant liar for the trials still running; Hyperband samples randomly and stops trials by Optuna's
  HyperbandPruner (successive halving in brackets between MinResource and MaxResource epochs);
- early stopping (`Auto`): SageMaker's median rule. After each epoch's objective value, a trial is stopped when
  that value is worse than the median of the running averages of the earlier trials' objective up to the same
  epoch.
The same RandomSeed gives the same values for the same results.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterator
from typing import Any

from mlops_cli.common.parameter_ranges import ParameterRange
from mlops_cli.local.sagemaker.ranges import search_scale

HYPERBAND_REDUCTION = 3  # SageMaker's Hyperband keeps about a third of the trials at each rung


class GridChooser:
    """Every combination of the categorical values, each once, in order."""

    def __init__(self, ranges: list[ParameterRange]):
        self.combinations: Iterator[tuple[str, ...]] = itertools.product(*(item.values for item in ranges))
        self.names = [item.name for item in ranges]
        self.size = math.prod(len(item.values) for item in ranges)

    def ask(self) -> tuple[dict[str, str], Any] | None:
        combination = next(self.combinations, None)
        return None if combination is None else (dict(zip(self.names, combination, strict=True)), None)

    def tell(self, token: Any, value: float | None) -> None:
        return None

    def stops(self, token: Any, epoch: int, value: float) -> bool:
        return False


def _distribution(item: ParameterRange) -> Any:
    """The range as an Optuna distribution on its search scale; a reverse-log range as 1 - x on a log scale."""
    from optuna import distributions

    if item.kind == "Categorical":
        return distributions.CategoricalDistribution(list(item.values))
    scale = search_scale(item)
    if item.kind == "Integer":
        return distributions.IntDistribution(int(item.low), int(item.high), log=scale == "Logarithmic")
    if scale == "ReverseLogarithmic":
        return distributions.FloatDistribution(1 - item.high, 1 - item.low, log=True)
    return distributions.FloatDistribution(item.low, item.high, log=scale == "Logarithmic")


def _reversed(item: ParameterRange) -> bool:
    return item.kind == "Continuous" and search_scale(item) == "ReverseLogarithmic"


def _value_text(item: ParameterRange, internal: Any) -> str:
    """Optuna's value -> the hyperparameter value the trial gets (as SageMaker sends them: text)."""
    if item.kind == "Categorical":
        return str(internal)
    if item.kind == "Integer":
        return str(int(internal))
    value = 1 - internal if _reversed(item) else internal
    return repr(float(min(max(value, item.low), item.high)))


def _internal(item: ParameterRange, text: str) -> Any:
    """A trial's value (text) -> Optuna's value; ValueError when it cannot be one."""
    if item.kind == "Categorical":
        return text
    if item.kind == "Integer":
        number = float(text)
        if not number.is_integer():
            raise ValueError(text)
        return int(number)
    return 1 - float(text) if _reversed(item) else float(text)


class OptunaChooser:
    """An Optuna study asked for each trial's values and told its final objective (ask/tell)."""

    def __init__(
        self,
        ranges: list[ParameterRange],
        sampler: Any,
        maximize: bool,
        history: list[tuple[dict[str, str], float]],
        pruner: Any = None,
        study_name: str | None = None,
    ):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.ranges = ranges
        self.distributions = {item.name: _distribution(item) for item in ranges}
        self.prunes = pruner is not None
        self.pruned: set[int] = set()  # numbers of the trials the pruner stopped
        self.study = optuna.create_study(
            direction="maximize" if maximize else "minimize",
            sampler=sampler,
            pruner=pruner if self.prunes else optuna.pruners.NopPruner(),
            study_name=study_name,
        )
        for values, objective in history:  # warm start: the parents' trials inform the sampler
            try:
                params = {item.name: _internal(item, values[item.name]) for item in ranges}
                trial = optuna.trial.create_trial(params=params, distributions=self.distributions, value=objective)
            except (KeyError, ValueError):  # a parent trial outside this job's ranges
                continue
            self.study.add_trial(trial)

    def ask(self) -> tuple[dict[str, str], Any]:
        trial = self.study.ask(self.distributions)
        return {item.name: _value_text(item, trial.params[item.name]) for item in self.ranges}, trial

    def tell(self, token: Any, value: float | None) -> None:
        states = self.optuna.trial.TrialState
        if value is None:
            self.study.tell(token, state=states.FAIL)
        elif token.number in self.pruned:  # Optuna takes its last reported value as its result
            self.study.tell(token, state=states.PRUNED)
        else:
            self.study.tell(token, value)

    def stops(self, token: Any, epoch: int, value: float) -> bool:
        """The objective after `epoch` reported; True when the pruner stops the trial there (Hyperband)."""
        if not self.prunes:
            return False
        token.report(value, epoch)
        if token.should_prune():
            self.pruned.add(token.number)
            return True
        return False


def random_chooser(
    ranges: list[ParameterRange], seed: int | None, maximize: bool, history: list[tuple[dict[str, str], float]]
) -> OptunaChooser:
    from optuna.samplers import RandomSampler

    return OptunaChooser(ranges, RandomSampler(seed=seed), maximize, history)


def bayesian_chooser(
    ranges: list[ParameterRange], seed: int | None, maximize: bool, history: list[tuple[dict[str, str], float]]
) -> OptunaChooser:
    """TPE, random only for the first len(ranges) + 1 trials (Optuna's default of 10 would make a short tuning
    job a random search), the parents' trials counting among them."""
    from optuna.samplers import TPESampler

    sampler = TPESampler(seed=seed, n_startup_trials=len(ranges) + 1, constant_liar=True)
    return OptunaChooser(ranges, sampler, maximize, history)


def hyperband_chooser(
    ranges: list[ParameterRange],
    seed: int | None,
    maximize: bool,
    history: list[tuple[dict[str, str], float]],
    *,
    min_resource: int,
    max_resource: int,
    name: str,
) -> OptunaChooser:
    """Random values; trials stopped at the rungs of their bracket (MinResource x 3^k epochs) unless among the
    best third there. The bracket of a trial follows from the job's name and the trial's number."""
    from optuna.pruners import HyperbandPruner
    from optuna.samplers import RandomSampler

    pruner = HyperbandPruner(min_resource=min_resource, max_resource=max_resource, reduction_factor=HYPERBAND_REDUCTION)
    return OptunaChooser(ranges, RandomSampler(seed=seed), maximize, history, pruner=pruner, study_name=name)


def running_averages(history: list[float]) -> list[float]:
    return [sum(history[: index + 1]) / (index + 1) for index in range(len(history))]


def worse(value: float, than: float, maximize: bool) -> bool:
    if math.isnan(value):
        return True
    return value < than if maximize else value > than


def median_rule_stops(history: list[float], earlier: list[list[float]], maximize: bool) -> bool:
    """SageMaker's median stopping rule at a trial's latest epoch: `history` is its objective after each epoch,
    `earlier` the histories of the trials started before it."""
    epoch = len(history)
    if epoch == 0:
        return False
    averages = [running_averages(other)[epoch - 1] for other in earlier if len(other) >= epoch]
    averages = [value for value in averages if not math.isnan(value)]
    if not averages:
        return False
    return worse(history[-1], statistics.median(averages), maximize)
