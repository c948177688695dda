"""How a tuning job chooses hyperparameter values, and when it stops a trial early.

- values: Random and Grid exactly as SageMaker documents them; Bayesian by Optuna's TPE sampler (warm start
  parents' results seed it); Hyperband samples randomly and stops trials by the median rule below;
- early stopping (`Auto`, and Hyperband): SageMaker's median rule. After each epoch's objective value, a trial is
  stopped when that value is worse than the median of the running averages of the earlier trials' objective up
  to the same epoch.
"""

from __future__ import annotations

import itertools
import math
import random
import statistics
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlops_cli.local.sagemaker.ranges import ParameterRange

if TYPE_CHECKING:
    from mlops_cli.local.sagemaker.tuning_runner import Trial


def _number_text(item: ParameterRange, value: float) -> str:
    return str(int(round(value))) if item.kind == "Integer" else repr(float(value))


class RandomChooser:
    """Uniform on the range's scale (log: uniform in log space); categorical uniformly."""

    def __init__(self, ranges: list[ParameterRange], seed: int | None):
        self.ranges = ranges
        self.rng = random.Random(seed)

    def _one(self, item: ParameterRange) -> str:
        if item.kind == "Categorical":
            return self.rng.choice(item.values)
        if item.scale == "Logarithmic":
            value = math.exp(self.rng.uniform(math.log(item.low), math.log(item.high)))
        else:
            value = self.rng.uniform(item.low, item.high)
        return _number_text(item, min(max(value, item.low), item.high))

    def ask(self) -> tuple[dict[str, str], Any]:
        return {item.name: self._one(item) for item in self.ranges}, None

    def tell(self, token: Any, value: float | None) -> None:
        return None


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


class BayesianChooser:
    """Optuna's TPE sampler (ask/tell), minimising or maximising the objective."""

    def __init__(
        self,
        ranges: list[ParameterRange],
        seed: int | None,
        maximize: bool,
        history: list[tuple[dict[str, str], float]],
    ):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.ranges = ranges
        self.study = optuna.create_study(
            direction="maximize" if maximize else "minimize", sampler=optuna.samplers.TPESampler(seed=seed)
        )
        distributions = {item.name: self._distribution(item) for item in ranges}
        for values, objective in history:  # warm start: the parents' trials inform the sampler
            params = {}
            for item in ranges:
                if item.name not in values:
                    break
                raw = values[item.name]
                params[item.name] = raw if item.kind == "Categorical" else float(raw)
            else:
                if all(
                    distributions[name]._contains(distributions[name].to_internal_repr(value))
                    for name, value in params.items()
                ):
                    self.study.add_trial(
                        optuna.trial.create_trial(params=params, distributions=distributions, value=objective)
                    )

    def _distribution(self, item: ParameterRange) -> Any:
        distributions = self.optuna.distributions
        if item.kind == "Categorical":
            return distributions.CategoricalDistribution(list(item.values))
        log = item.scale == "Logarithmic"
        if item.kind == "Integer":
            return distributions.IntDistribution(int(item.low), int(item.high), log=log)
        return distributions.FloatDistribution(item.low, item.high, log=log)

    def ask(self) -> tuple[dict[str, str], Any]:
        trial = self.study.ask({item.name: self._distribution(item) for item in self.ranges})
        values = {}
        for item in self.ranges:
            value = trial.params[item.name]
            values[item.name] = value if item.kind == "Categorical" else _number_text(item, value)
        return values, trial

    def tell(self, token: Any, value: float | None) -> None:
        if value is None:
            self.study.tell(token, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(token, value)


def running_averages(history: list[float]) -> list[float]:
    return [sum(history[: index + 1]) / (index + 1) for index in range(len(history))]


def worse(value: float, than: float, maximize: bool) -> bool:
    if math.isnan(value):
        return True
    return value < than if maximize else value > than


def median_rule_stops(trial: Trial, earlier: list[Trial], maximize: bool) -> bool:
    """SageMaker's median stopping rule at the trial's latest epoch."""
    epoch = len(trial.history)
    if epoch == 0:
        return False
    averages = [running_averages(other.history)[epoch - 1] for other in earlier if len(other.history) >= epoch]
    averages = [value for value in averages if not math.isnan(value)]
    if not averages:
        return False
    return worse(trial.history[-1], statistics.median(averages), maximize)
