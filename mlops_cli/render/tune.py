"""Rendering for `mlops tune`: the live leaderboard on stderr while trials run, the final result table, and the
plot of the run (`--plot`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.render import Output, console, on_terminal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mlops_cli.services.tuning.job import TuningSnapshot

LOG_OBJECTIVE_SPAN = 10.0  # objective values spanning more than this factor are plotted on a log scale
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
        if self.out.verbosity >= 0 and on_terminal(stderr=True):
            from rich.live import Live

            self.live = Live(console=self.err, auto_refresh=False, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)

    def update(self, current: TuningSnapshot) -> None:
        from mlops_cli.services.tuning.job import result_document

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
        parent = best.get("tuning_job") not in (None, document["tuning_job"])
        table.add_row(
            "best training job",
            f"{best['training_job']} (warm start parent {best['tuning_job']})" if parent else best["training_job"],
        )
        table.add_row(f"best {best['objective']['name']}", _number(best["objective"]["value"]))
        table.add_row("best values", _values(best["hyperparameters"]))
        for name, value in (best.get("metrics") or {}).items():
            table.add_row(f"metric {name}", _number(value))
        if best.get("model_artifact"):
            table.add_row("model artifact", best["model_artifact"])
    out.print(table)
    out.print(leaderboard(document))


def write_plot(document: dict[str, Any], curves: dict[str, list[float]], ranges: dict[str, Any], path: Path) -> None:
    """The tuning run as a user reads it (PNG): above, each trial's objective after every epoch (stopped trials
    end in x, the best in a star); below, for each tuned hyperparameter, its value against the final objective,
    coloured by trial order (does the search close in on good values?), log-scaled like the range.

    Written to a temporary file and renamed, so a failed run leaves no half-written plot."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from mlops_cli.render.plots import save_plot

    trials = document["trials"]
    metric = document["objective"]["name"]
    direction = "min" if document["objective"].get("type") != "Maximize" else "max"
    best = (document.get("best") or {}).get("training_job")
    names = sorted({name for trial in trials for name in trial["values"]})
    log_scaled = {
        item["Name"]
        for kind in ("ContinuousParameterRanges", "IntegerParameterRanges")
        for item in ranges.get(kind) or []
        if item.get("ScalingType") == "Logarithmic"
    }
    categorical = {item["Name"] for item in ranges.get("CategoricalParameterRanges") or []}
    order = colormaps["viridis"]
    shade = [order(index / max(1, len(trials) - 1)) for index in range(len(trials))]

    figure = Figure(figsize=(10, 7.5), dpi=100, layout="constrained")
    grid = figure.add_gridspec(2, max(1, len(names)), height_ratios=(1.2, 1))
    epochs = figure.add_subplot(grid[0, :])
    for index, trial in enumerate(trials):
        values = curves.get(trial["name"]) or []
        if not values:
            continue
        steps = list(range(1, len(values) + 1))
        is_best = trial["name"] == best
        epochs.plot(
            steps,
            values,
            marker="o",
            markersize=4,
            linewidth=2.5 if is_best else 1.2,
            color=shade[index],
            label=f"{_trial_number(trial['name'])} {_values(trial['values'])}{'  (best)' if is_best else ''}",
        )
        if trial["status"] == "Stopped":
            epochs.plot(steps[-1], values[-1], marker="x", markersize=10, color="tab:red", linestyle="none")
        if is_best:
            epochs.plot(steps[-1], values[-1], marker="*", markersize=16, color="tab:orange", linestyle="none")
    longest = max((len(values) for values in curves.values()), default=1)
    epochs.set_xlim(0.5, longest + 0.5)
    epochs.set_xlabel("epoch")
    epochs.set_ylabel(metric)
    epochs.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    epochs.set_title(
        f"tuning job {document['tuning_job']} ({document['strategy']}, {document['status']}): "
        f"{metric} ({direction}) after each epoch; x = stopped early",
        fontsize=10,
    )
    epochs.grid(alpha=0.3)
    if trials:
        epochs.legend(fontsize=7, loc="best", ncols=1 if len(trials) <= 8 else 2, framealpha=0.8)

    scored = [(index, trial) for index, trial in enumerate(trials) if trial["objective"] is not None]
    seen = [value for values in curves.values() for value in values] + [trial["objective"] for _, trial in scored]
    # One diverged trial (a loss of 30 beside 0.3) would flatten every other: spread them on a log scale.
    log_objective = bool(seen) and min(seen) > 0 and max(seen) > LOG_OBJECTIVE_SPAN * min(seen)
    if log_objective:
        _log_scale(epochs, "y", seen)
    for column, name in enumerate(names):
        axis = figure.add_subplot(grid[1, column])
        raw = [trial["values"].get(name) for _, trial in scored]
        labels = sorted({str(value) for value in raw}, key=_numeric_first) if name in categorical else []
        xs = [labels.index(str(value)) if labels else value for value in raw]
        ys = [trial["objective"] for _, trial in scored]
        axis.scatter(xs, ys, c=[shade[index] for index, _ in scored], s=36, edgecolors="black", linewidths=0.5)
        for x, y, (_, trial) in zip(xs, ys, scored, strict=True):
            if trial["name"] == best:
                axis.plot(x, y, marker="*", markersize=16, color="tab:orange", linestyle="none")
        if labels:
            axis.set_xticks(range(len(labels)), labels)
            axis.set_xlim(-0.5, len(labels) - 0.5)
        elif name in log_scaled:
            _log_scale(axis, "x", [float(value) for value in xs])
        if log_objective:
            _log_scale(axis, "y", seen)
        axis.set_xlabel(name)
        axis.set_ylabel(f"final {metric}" if column == 0 else "")
        axis.grid(alpha=0.3)
    if names and scored:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        legend = ScalarMappable(norm=Normalize(1, max(2, len(trials))), cmap=order)
        bar = figure.colorbar(legend, ax=figure.axes[1:], aspect=30, pad=0.02)
        bar.set_label("trial (launch order)")
        bar.locator = MaxNLocator(integer=True)
        bar.update_ticks()
    save_plot(figure, path)


def _log_scale(axes: Any, which: str, values: list[float]) -> None:
    """The `which` ("x" | "y") axis of `axes` on a log scale, labelled in plain numbers (0.001, 0.002, 0.005 when
    `values` span at most two decades; one label a decade or fewer beyond)."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    (axes.set_xscale if which == "x" else axes.set_yscale)("log")
    axis = axes.xaxis if which == "x" else axes.yaxis
    positive = [value for value in values if value > 0]
    decades = math.log10(max(positive) / min(positive)) if positive else 0.0
    axis.set_major_locator(LogLocator(subs=(1, 2, 5) if decades <= 2 else (1,), numticks=8))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _trial_number(name: str) -> str:
    """`<tuning job>-003-1a2b3c4d` -> `003`."""
    parts = name.rsplit("-", 2)
    return parts[1] if len(parts) == 3 and parts[1].isdigit() else name


def _numeric_first(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
