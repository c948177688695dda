"""Plans: AWS requests built as plain data before anything is sent.

A mutating service builds a `Plan` (an ordered list of steps, each a service, an operation name as AWS
spells it, and its parameters). `--dry-run` prints the plan as JSON and sends nothing; otherwise the service
runs it with `run_step`/`Plan.run`. Steps that need an earlier step's result are built after that step ran,
in ordinary Python, so a plan printed by `--dry-run` shows placeholders only where AWS must answer first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Step:
    service: str
    operation: str
    params: dict[str, Any]
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"service": self.service, "operation": self.operation, "params": self.params}
        if self.note:
            data["note"] = self.note
        return data


@dataclass
class Plan:
    title: str
    steps: list[Step] = field(default_factory=list)
    cost: dict[str, Any] | None = None  # services/cost.py's estimate, for plans that launch what is billed

    def add(self, service: str, operation: str, params: dict[str, Any] | None = None, note: str = "") -> Step:
        step = Step(service, operation, dict(params or {}), note)
        self.steps.append(step)
        return step

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"plan": self.title, "steps": [step.to_dict() for step in self.steps]}
        if self.cost is not None:
            data["cost"] = self.cost
        return data

    def run(self, client_for: Callable[[str], Any]) -> list[Any]:
        return [run_step(step, client_for) for step in self.steps]


def snake_case(operation: str) -> str:
    """`CreateTrainingJob` -> `create_training_job` (boto3's method name for an API operation)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", operation).lower()


def run_step(step: Step, client_for: Callable[[str], Any]) -> Any:
    client = client_for(step.service)
    return getattr(client, snake_case(step.operation))(**step.params)
