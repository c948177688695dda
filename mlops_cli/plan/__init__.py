"""Plans of AWS requests (steps.py) and the executors that run or display them (executor.py)."""

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
