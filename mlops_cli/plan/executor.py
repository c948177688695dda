"""The two ways a plan is run: `Executor` sends its requests, `DisplayOnlyExecutor` only records them.

Both walk the plan with the one loop, `Executor.execute` (as Chalice's deployer runs and displays its plans): the
display-only executor replaces only what is done with each step, recording the request as it would go out instead
of sending it, so `--dry-run` shows by construction the steps a real run sends, in the same order. The executor
resolves refs to earlier answers, retries a step while AWS answers with the error its `retry` names, treats the
codes of `ok_on` as done, waits after a step that has a `wait`, and reports what it does through `on_event`
(services and the executor never print).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.plan.steps import ClientFor, Plan, Ref, Step, resolve_refs, snake_case


@dataclass(frozen=True)
class Event:
    """What the executor is doing: `send` (a request goes out), `retry` (AWS still refuses for the step's known
    reason; the message says why), `wait` (a step's wait starts) or `status` (a wait's progress)."""

    kind: str
    step: Step
    message: str


OnEvent = Callable[[Event], None]


@dataclass
class Answers:
    """The answers of a run, by step name (those a later step or the caller refers to) and in order."""

    named: dict[str, Any] = field(default_factory=dict)
    ordered: list[Any] = field(default_factory=list)
    waited: dict[str, Any] = field(default_factory=dict)  # by step name: what the step's wait returned

    def __getitem__(self, name: str) -> Any:
        return self.named[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.named.get(name, default)


class Executor:
    """Runs plans against AWS through `client_for(service)` (boto3 clients)."""

    def __init__(self, client_for: ClientFor, on_event: OnEvent | None = None):
        self.client_for = client_for
        self.on_event = on_event or (lambda _event: None)

    def execute(self, plan: Plan, answers: Answers | None = None) -> Answers:
        """Send every step of `plan` in order; `answers` of an earlier plan may be given for its refs."""
        answers = answers if answers is not None else Answers()
        for step in plan.steps:
            answer = self.run_step(step, answers)
            answers.ordered.append(answer)
            if step.name:
                answers.named[step.name] = answer
        return answers

    def run_step(self, step: Step, answers: Answers) -> Any:
        from mlops_cli.aws import absent_on, error_code, retry_while

        def resolve(value: Any) -> Any:
            return resolve_refs(value, lambda ref: _answer(ref, answers))

        params = resolve(step.params)
        if step.unless is not None and step.unless.holds(self.client_for):
            self.on_event(Event("skip", step, f"{step.operation} {step.target}: {step.unless.describe()}"))
            return None
        self.on_event(Event("send", step, f"{step.operation} {step.target}".strip()))
        method = getattr(self.client_for(step.service), snake_case(step.operation))

        def call() -> Any:
            if step.ok_on:
                return absent_on(step.ok_on, lambda: method(**params))
            if step.instead is not None:
                instead = step.instead
                try:
                    return method(**params)
                except Exception as exc:
                    if error_code(exc) != instead.code:
                        raise
                return self.run_step(instead.step, answers)
            return method(**params)

        if step.retry is not None:
            retry = step.retry
            answer = retry_while(
                call,
                retry.while_,
                wait_s=retry.for_s,
                on_wait=lambda exc: self.on_event(Event("retry", step, _retry_message(retry, exc))),
            )
        else:
            answer = call()
        if step.wait is not None:
            if step.name:
                answers.named[step.name] = answer  # the wait may refer to this step's own answer
            self.on_event(Event("wait", step, step.wait.describe()))
            waited = step.wait.run(
                self.client_for, resolve, lambda message: self.on_event(Event("status", step, message))
            )
            if step.name:
                answers.waited[step.name] = waited
        return answer


class DisplayOnlyExecutor(Executor):
    """`--dry-run`: the executor's walk, sending nothing. Each step is recorded as the request it would send, refs
    shown as their placeholders (valid by the service model) and listed under `refs`, its `wait`, `retry`,
    `unless` and `instead` described; its answer is None (a later step's refs stay placeholders)."""

    def __init__(self) -> None:
        super().__init__(client_for=_nothing_is_sent)
        self.requests: list[dict[str, Any]] = []

    def run_step(self, step: Step, answers: Answers) -> None:
        self.requests.append(step.to_dict())

    def show(self, plan: Plan) -> dict[str, Any]:
        """The plan as `--dry-run -o json` prints it: its title, the recorded requests, the cost, offline or not."""
        self.execute(plan)
        shown: dict[str, Any] = {"plan": plan.title, "steps": self.requests}
        if plan.cost is not None:
            shown["cost"] = plan.cost
        if plan.assumed_empty:
            shown["offline"] = True
        return shown


def _nothing_is_sent(service: str) -> Any:
    raise AssertionError(f"a dry run asked for a {service} client")  # pragma: no cover: run_step sends nothing


def _answer(ref: Ref, answers: Answers) -> Any:
    try:
        return ref.resolve(answers.named)
    except (KeyError, IndexError, TypeError):
        raise RuntimeError(f"plan refers to {ref}, which no earlier step answered") from None


def _retry_message(retry: Any, exc: BaseException) -> str:
    first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    why = retry.why or "AWS is not ready yet"
    return f"{why} ({first_line}): retrying with backoff for up to {retry.for_s:.0f} s"
