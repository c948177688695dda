"""Plans: AWS requests built as plain data before anything is sent.

A mutating use case builds a `Plan`: an ordered list of steps, each a service, an operation name as AWS spells it
and its parameters. A parameter AWS must answer first (the version PublishVersion returns, the ARN of a role
CreateRole made) is a `Ref` to the earlier step's answer, resolved when the plan runs. Waiting until AWS is done
(`wait`), retrying while AWS still refuses for a known reason (`retry`) and treating "already gone" as done
(`ok_on`) are properties of a step. One executor runs every plan and a display-only executor walks the same
plan for `--dry-run` (mlops_cli.plan.executor), so what a dry run prints is by construction what runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from mlops_cli.plan.sends import Operation, sent_by

ClientFor = Callable[[str], Any]
Report = Callable[[str], None]
ON_THIS_MACHINE = "local"  # the service of a step run here, not sent to AWS (nothing to grant)

# The first word of an operation says what it does to its resource (Terraform's +, ~, -, =).
ACTIONS = {
    "create": ("Create", "Run", "Register", "Publish", "Add", "Attach", "Start", "Upload"),
    "update": ("Update", "Put", "Tag", "Untag", "Modify", "Set"),
    "delete": ("Delete", "Deregister", "Detach", "Remove", "Stop", "Terminate", "Abort"),
    "read": ("Describe", "Get", "List", "Head"),
}
# Parameters that name what a step acts on, most specific last within each group.
RESOURCE_KEYS = (
    ("RoleName", "PolicyName"),
    ("RoleName", "PolicyArn"),
    ("InstanceProfileName", "RoleName"),
    ("FunctionName", "Name"),
    ("FunctionName", "Qualifier"),
    ("ResourceId", "PolicyName"),
    ("Bucket", "Key"),
    ("RoleName",),
    ("InstanceProfileName",),
    ("FunctionName",),
    ("EndpointName",),
    ("EndpointConfigName",),
    ("ModelName",),
    ("TrainingJobName",),
    ("HyperParameterTuningJobName",),
    ("ResourceId",),
    ("Resource",),
    ("Bucket",),
    ("ImageIds",),
    ("InstanceIds",),
)


@dataclass(frozen=True)
class Ref:
    """A parameter value an earlier step's answer gives: `Ref("publish", "Version")` is the `Version` of the
    answer of the step named `publish`; with `pick`, of `pick(answer)` (e.g. the newest of the images a
    DescribeImages found; `what` then says what it picks). `placeholder` stands for it in a dry run: a value the
    service model accepts (the request stays valid), never sent."""

    step: str
    path: tuple[str, ...]
    placeholder: Any
    pick: Callable[[Any], Any] | None
    what: str

    def __init__(
        self, step: str, *path: str, placeholder: Any, pick: Callable[[Any], Any] | None = None, what: str = ""
    ):
        object.__setattr__(self, "step", step)
        object.__setattr__(self, "path", tuple(path))
        object.__setattr__(self, "placeholder", placeholder)
        object.__setattr__(self, "pick", pick)
        object.__setattr__(self, "what", what)

    def resolve(self, answers: dict[str, Any]) -> Any:
        value = answers[self.step]
        if self.pick is not None:
            value = self.pick(value)
        for key in self.path:
            value = value[key]
        return value

    def __str__(self) -> str:
        return ".".join((self.step, *([self.what] if self.what else []), *self.path))


class Wait(Protocol):
    """Something that waits after a step's request until AWS has done it (or raises why it did not)."""

    def describe(self) -> str: ...

    def operations(self) -> tuple[Operation, ...]: ...

    def run(self, client_for: ClientFor, resolve: Callable[[Any], Any], report: Report) -> Any: ...


@dataclass(frozen=True)
class Waiter:
    """A boto3 waiter (`name` as boto3 spells it, e.g. `function_active_v2`) with its parameters; `explain`
    turns a waiter that gave up into the error the user reads."""

    name: str
    params: dict[str, Any]
    service: str
    delay_s: int = 2
    max_attempts: int = 300
    explain: Callable[[ClientFor, dict[str, Any]], BaseException] | None = None

    def describe(self) -> str:
        return f"waits: {self.service} {self.name}"

    def operations(self) -> tuple[Operation, ...]:
        """The operation the waiter polls (from botocore's waiter model), and what `explain` sends."""
        polled = (self.service, _waiter_operations(self.service)[self.name])
        return (polled, *(sent_by(self.explain) if self.explain is not None else ()))

    def run(self, client_for: ClientFor, resolve: Callable[[Any], Any], report: Report) -> Any:
        from botocore.exceptions import WaiterError

        params = resolve(self.params)
        waiter = client_for(self.service).get_waiter(self.name)
        try:
            waiter.wait(**params, WaiterConfig={"Delay": self.delay_s, "MaxAttempts": self.max_attempts})
        except WaiterError:
            if self.explain is None:
                raise
            raise self.explain(client_for, params) from None


@dataclass(frozen=True)
class Poll:
    """A wait of our own: `until(client_for, report)` polls until done and returns the last answer; `sends` is
    what it polls with, `sent_by` the function behind `until` (mlops_cli.plan.sends). Required: `config
    permissions` grants a wait what it declares, so an undeclared one would be refused when it runs."""

    until: Callable[[ClientFor, Report], Any]
    what: str
    sends: tuple[Operation, ...]

    def describe(self) -> str:
        return f"waits: {self.what}"

    def operations(self) -> tuple[Operation, ...]:
        return self.sends

    def run(self, client_for: ClientFor, resolve: Callable[[Any], Any], report: Report) -> Any:
        return self.until(client_for, report)


@dataclass(frozen=True)
class Retry:
    """Repeat the request, with backoff, for up to `for_s` seconds while AWS answers with an error `while_`
    matches (an mlops_cli.aws.ErrorMatch, e.g. a role not assumable yet); `why` is told once when it waits."""

    while_: Callable[[BaseException], bool]
    for_s: float
    why: str = ""

    def describe(self) -> str:
        return f"retries while {self.while_} for up to {self.for_s:.0f} s" + (f" ({self.why})" if self.why else "")


@dataclass(frozen=True)
class Unless:
    """Skip the step when `holds(client_for)` says what it would do is done already (`what` says what); `sends`
    is what the check reads (`sent_by` the function behind `holds`; required, as `Poll.sends`)."""

    holds: Callable[[ClientFor], bool]
    what: str
    sends: tuple[Operation, ...]

    def describe(self) -> str:
        return f"skipped when {self.what}"


@dataclass(frozen=True)
class Instead:
    """When AWS refuses the step with error `code` (e.g. EntityAlreadyExists), `step` is sent in its place."""

    code: str
    step: Step

    def describe(self) -> str:
        return f"on {self.code}: {self.step.service} {self.step.operation} instead"


@dataclass
class Step:
    service: str
    operation: str
    params: dict[str, Any]
    note: str = ""
    name: str = ""  # later steps refer to this step's answer by this name
    wait: Wait | None = None
    retry: Retry | None = None
    # Error codes (or a predicate on the error) meaning what the step does holds already (a resource already
    # gone, or already there): the step is done, its answer None.
    ok_on: tuple[str, ...] | Callable[[BaseException], bool] = ()
    unless: Unless | None = None
    instead: Instead | None = None
    action: str = ""  # create/update/delete/read; from the operation when not given
    resource: str = ""  # what it acts on, for people; from the parameters when not given

    @property
    def kind(self) -> str:
        if self.action:
            return self.action
        for action, verbs in ACTIONS.items():
            if self.operation.startswith(verbs):
                return action
        return "update"

    @property
    def target(self) -> str:
        if self.resource:
            return self.resource
        for keys in RESOURCE_KEYS:
            if all(key in self.params for key in keys):
                values = [_plain(self.params[key]) for key in keys]
                return "s3://" + "/".join(values) if keys[0] == "Bucket" else " ".join(values)
        return ""

    def refs(self) -> dict[str, str]:
        """Parameter paths that hold a `Ref`, and what they refer to."""
        found: dict[str, str] = {}
        _find_refs(self.params, "", found)
        if self.wait is not None and isinstance(getattr(self.wait, "params", None), dict):
            _find_refs(self.wait.params, "wait.", found)  # type: ignore[attr-defined]
        return found

    def to_dict(self) -> dict[str, Any]:
        """The request as a dry run shows it: refs replaced by their placeholders (see `refs`)."""
        data: dict[str, Any] = {
            "service": self.service,
            "operation": self.operation,
            "params": placeholders(self.params),
        }
        if self.note:
            data["note"] = self.note
        refs = self.refs()
        if refs:
            data["refs"] = refs
        if self.wait is not None:
            data["wait"] = self.wait.describe()
        if self.retry is not None:
            data["retry"] = self.retry.describe()
        if self.unless is not None:
            data["unless"] = self.unless.describe()
        if self.instead is not None:
            data["instead"] = {**self.instead.step.to_dict(), "on": self.instead.code}
        return data


@dataclass
class Plan:
    title: str
    steps: list[Step] = field(default_factory=list)
    cost: dict[str, Any] | None = None  # services/cost.py's estimate, for plans that launch what is billed
    assumed_empty: bool = False  # planned without reading AWS: for an account where nothing exists yet

    def add(
        self, service: str, operation: str, params: dict[str, Any] | None = None, note: str = "", **how: Any
    ) -> Step:
        step = Step(service, operation, dict(params or {}), note, **how)
        self.steps.append(step)
        return step

    def operations(self) -> list[tuple[str, str, str]]:
        """(service, operation, resource) of every request running the plan may send: each step, the step sent
        `instead` of it, what its `unless` check reads and what its `wait` polls with. What the caller needs
        permission for (mlops_cli.services.iam.permissions); the reads made while planning are the use case's."""
        found = []
        for step in self.steps:
            if step.service == ON_THIS_MACHINE:
                continue
            for sent in (step, *([step.instead.step] if step.instead is not None else [])):
                found.append((sent.service, sent.operation, sent.target))
                around = (*(sent.unless.sends if sent.unless else ()), *(sent.wait.operations() if sent.wait else ()))
                found += [(service, operation, sent.target) for service, operation in around]
        return found


def placeholders(value: Any) -> Any:
    """`value` with every `Ref` replaced by its placeholder."""
    return resolve_refs(value, lambda ref: ref.placeholder)


def resolve_refs(value: Any, resolve: Callable[[Ref], Any]) -> Any:
    if isinstance(value, Ref):
        return resolve(value)
    if isinstance(value, dict):
        return {key: resolve_refs(item, resolve) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_refs(item, resolve) for item in value]
    return value


def _find_refs(value: Any, path: str, found: dict[str, str]) -> None:
    if isinstance(value, Ref):
        found[path.rstrip(".")] = str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _find_refs(item, f"{path}{key}.", found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _find_refs(item, f"{path}{index}.", found)


def _plain(value: Any) -> str:
    if isinstance(value, Ref):
        return f"({value})"
    if isinstance(value, list):
        return ",".join(_plain(item) for item in value)
    return str(value)


def snake_case(operation: str) -> str:
    """`CreateTrainingJob` -> `create_training_job` (boto3's method name for an API operation)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", operation).lower()


@cache
def _waiter_operations(service: str) -> dict[str, str]:
    """boto3's waiter names of `service` -> the operation each polls, from botocore's waiter model."""
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_waiter_model(service)
    return {xform_name(name): model.get_waiter(name).operation for name in model.waiter_names}
