"""A use case's plan with what the command needs around it: how to turn the answers into the result, what to
warn about first, and what to tell the user when Ctrl-C stops the run while AWS goes on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_cli.plan.executor import Answers, Executor
    from mlops_cli.plan.steps import Plan


@dataclass
class Planned:
    plan: Plan
    finish: Callable[[Answers], Any]  # the command's result once the plan ran
    warnings: list[str] = field(default_factory=list)  # said before anything runs, dry run included
    notices: list[str] = field(default_factory=list)  # warnings said before a real run only
    announce: list[str] = field(default_factory=list)  # info lines said before a real run only
    interrupted: tuple[str, str | None] | None = None  # (message, hint) for Ctrl-C during the run
    run: Callable[[Executor, Plan], Answers] | None = None  # a run with its own failure handling, or its own sender
    reads_aws: bool = True  # False: planned from flags and files alone, so a dry run need not ask if AWS is there

    def execute(self, executor: Executor) -> Answers:
        return self.run(executor, self.plan) if self.run is not None else executor.execute(self.plan)
