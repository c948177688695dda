"""Plans of AWS requests (steps.py), the executors that run or display them (executor.py), and what functions send
outside plans (sends.py)."""

from mlops_cli.plan.executor import Answers, DisplayOnlyExecutor, Event, Executor
from mlops_cli.plan.sends import Operation, sends, sends_via, sent_by
from mlops_cli.plan.steps import Instead, Plan, Poll, Ref, Retry, Step, Unless, Waiter, snake_case

__all__ = [
    "Answers",
    "DisplayOnlyExecutor",
    "Event",
    "Executor",
    "Instead",
    "Operation",
    "Plan",
    "Poll",
    "Ref",
    "Retry",
    "Step",
    "Unless",
    "Waiter",
    "sends",
    "sends_via",
    "sent_by",
    "snake_case",
]
