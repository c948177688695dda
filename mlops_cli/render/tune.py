"""Rendering for `mlops tune`: the live leaderboard on stderr while trials run, and the final result table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from mlops_cli.render import Output, console

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mlops_cli.services.tuning import TuningSnapshot

STATUS_STYLES = {"Completed": "green", "InProgress": "cyan", "Failed": "red", "Stopped": "yellow", "Stopping": "yellow"}


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _values(values: dict[str, Any]) -> str:
    return " ".join(f"{name}={_number(value)}" for name, value in sorted(values.items()))


def _counts(document: dict[str, Any]) -> str:
    jobs = document["counts"]["training_jobs"]
    return ", ".join(f"{count} {name}" for name, count in jobs.items() if count) or "no trials yet"


def leaderboard(document: dict[str, Any]) -> Table:
    """Trials by objective (best first; unfinished last), the best marked."""
    from rich.table import Table

    minimize = document["objective"].get("type") != "Maximize"
    best = (document.get("best") or {}).get("training_job")

    def order(trial: dict[str, Any]) -> tuple[int, float]:
        value = trial["objective"]
        if value is None:
            return (1, 0.0)
        return (0, value if minimize else -value)

    best_value = (document.get("best") or {}).get("objective", {}).get("value")
    title = (
        f"tuning job {document['tuning_job']}: {document['status']} ({_counts(document)}); "
        f"objective {document['objective']['name']} ({'min' if minimize else 'max'}), "
        f"best so far {_number(best_value)}"
    )
    table = Table(title=title, title_justify="left")
    for column in ("trial", "tuned values", "status", document["objective"]["name"] or "objective", "best"):
        table.add_column(column, overflow="fold")
    for trial in sorted(document["trials"], key=order):
        table.add_row(
            trial["name"],
            _values(trial["values"]),
            f"[{STATUS_STYLES.get(trial['status'], 'white')}]{trial['status']}[/]",
            _number(trial["objective"]),
            "*" if trial["name"] == best else "",
        )
    return table


class LiveLeaderboard:
    """While following: a live table on a terminal; elsewhere one line per trial change. Silent with --quiet."""

    def __init__(self, out: Output):
        self.out = out
        self.err = console(stderr=True)
        self.live: Any = None
        self.seen: dict[str, tuple[str, Any]] = {}

    def __enter__(self) -> LiveLeaderboard:
        if self.out.verbosity >= 0 and self.err.is_terminal:
            from rich.live import Live

            self.live = Live(console=self.err, auto_refresh=False, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def update(self, current: TuningSnapshot) -> None:
        from mlops_cli.services.tuning import result_document

        if self.out.verbosity < 0:
            return
        document = result_document(current)
        if self.live is not None:
            self.live.update(leaderboard(document), refresh=True)
            return
        for trial in document["trials"]:
            state = (trial["status"], trial["objective_status"])
            if trial["status"] in ("Completed", "Stopped") and trial["objective_status"] == "Pending":
                continue  # ended, objective not evaluated yet: one line once it is
            if self.seen.get(trial["name"]) != state:
                self.seen[trial["name"]] = state
                objective = (
                    f" {document['objective']['name']}={_number(trial['objective'])}"
                    if trial["objective"] is not None
                    else ""
                )
                self.err.print(
                    f"trial {trial['name']} {trial['status']}: {_values(trial['values'])}{objective}",
                    markup=False,
                    highlight=False,
                )


@contextmanager
def following(out: Output) -> Iterator[Callable[[TuningSnapshot], None]]:
    """While the trials run: the live leaderboard, updated with each snapshot."""
    with LiveLeaderboard(out) as board:
        yield board.update


def result_table(out: Console, document: dict[str, Any]) -> None:
    """The final table: the tuning job, AWS's counts, the best trial with its values and metrics, every trial."""
    from rich.table import Table

    table = Table(title="tuning job", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("tuning job", document["tuning_job"])
    table.add_row("status", document["status"])
    table.add_row("trials", _counts(document))
    if document.get("failure_reason"):
        table.add_row("failure reason", document["failure_reason"])
    best = document.get("best")
    if best:
        table.add_row("best training job", best["training_job"])
        table.add_row(f"best {best['objective']['name']}", _number(best["objective"]["value"]))
        table.add_row("best values", _values(best["hyperparameters"]))
        for name, value in (best.get("metrics") or {}).items():
            table.add_row(f"metric {name}", _number(value))
        if best.get("model_artifact"):
            table.add_row("model artifact", best["model_artifact"])
    out.print(table)
    out.print(leaderboard(document))
