"""Plans of AWS requests (steps.py) and the executors that run or display them (executor.py)."""

from collections.abc import Callable
from typing import Any

from mlops_cli.plan.executor import Answers, DisplayOnlyExecutor, Event, Executor
from mlops_cli.plan.steps import Instead, Plan, Poll, Ref, Retry, Step, Unless, Waiter, snake_case

__all__ = [
    "Answers",
    "DisplayOnlyExecutor",
    "Event",
    "Executor",
    "Instead",
    "Plan",
    "Poll",
    "Ref",
    "Retry",
    "Step",
    "Unless",
    "Waiter",
    "snake_case",
]


def run_step(step: Step, client_for: Callable[[str], Any]) -> Any:
    """One step outside a plan (services not yet on the executor)."""
    return Executor(client_for).run_step(step, Answers())
