"""A plan for people, as Terraform shows one: a line per step (action, resource, why), then a summary line and
the cost; `-o json` prints the exact requests instead. Both show what the display-only executor recorded
walking the plan (mlops_cli.plan.executor.DisplayOnlyExecutor), one request per step."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_cli.plan import Event, Plan
    from mlops_cli.render import Output

SYMBOLS = {"create": "+", "update": "~", "delete": "-", "read": "=", "invoke": ">"}
STYLES = {"create": "green", "update": "yellow", "delete": "red", "read": "cyan", "invoke": "magenta"}
OFFLINE = "offline: planned for an account where nothing exists yet (AWS could not be read)"


def show(out: Output, plan: Plan) -> None:
    from mlops_cli.plan import DisplayOnlyExecutor

    shown = DisplayOnlyExecutor().show(plan)
    if plan.assumed_empty:
        out.info(OFFLINE)
    if out.json:
        sys.stdout.write(json.dumps({"dry_run": True, **shown}, indent=2, default=str) + "\n")
        sys.stdout.flush()
        return
    from rich.text import Text

    from mlops_cli.render import console

    terminal = console()
    terminal.print(Text(f"{plan.title} (dry run: nothing is sent)", style="bold"))
    counts = dict.fromkeys(SYMBOLS, 0)
    for step, request in zip(plan.steps, shown["steps"], strict=True):
        kind = step.kind
        counts[kind] += 1
        line = Text("  ")
        line.append(f"{SYMBOLS[kind]} ", style=STYLES[kind])
        line.append(f"{step.service} {step.operation}", style="bold")
        if step.target:
            line.append(f"  {step.target}")
        if step.note:
            line.append(f"  # {step.note}", style="dim")
        terminal.print(line)
        for path, ref in (request.get("refs") or {}).items():
            terminal.print(Text(f"      {path} = (known after {ref})", style="dim"))
        for key in ("unless", "wait", "retry"):
            if request.get(key):
                terminal.print(Text(f"      {request[key]}", style="dim"))
        if step.instead is not None:
            terminal.print(Text(f"      {step.instead.describe()}", style="dim"))
    terminal.print(summary(counts))
    if plan.cost is not None:
        from mlops_cli.services.cost import summary as cost_summary

        terminal.print(cost_summary(plan.cost), markup=False)


def summary(counts: dict[str, int]) -> str:
    line = f"Plan: {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete"
    extra = [f"{counts[kind]} to {kind}" for kind in ("read", "invoke") if counts[kind]]
    return line + "".join(f", {part}" for part in extra) + "."


@contextmanager
def progress(out: Output) -> Iterator[Callable[[Event], None]]:
    """The executor's events on stderr: each request (with -v), retries (always), and while a step waits its
    latest status: a spinner on a terminal, else a line each time it changes (a CI log keeps them)."""
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    from mlops_cli.render import on_terminal

    terminal = on_terminal(stderr=True)
    # Started by the first event: a run that sends nothing through the executor (an upload's transfers, a load
    # test) shows its own live display instead, and two at once need a rich newer than the one we require.
    bar = out.progress(columns=(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()))
    try:
        waiting: list[Any] = []  # the spinner of the wait in progress, if any
        said: list[str] = []  # the last status line printed

        def on_event(event: Event) -> None:
            bar.start()  # idempotent
            if event.kind == "retry":
                out.info(event.message)
                return
            if event.kind == "status" and waiting:
                line = f"{event.step.target}: {event.message}"
                bar.update(waiting[0], description=line)
                if not terminal and said != [line]:
                    out.info(line)
                    said[:] = [line]
                return
            for task in waiting:  # a new request or wait: the last wait is over
                bar.stop_task(task)
                bar.remove_task(task)
            waiting.clear()
            if event.kind == "wait":
                waiting.append(bar.add_task(f"{event.step.target}: waiting", total=None))
            out.detail(event.message)

        yield on_event
    finally:
        if bar.live.is_started:
            bar.stop()
