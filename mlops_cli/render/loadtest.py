"""`mlops loadtest` output: the live view (stderr), the summary table and the plot file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import UsageError
from mlops_cli.files import write_atomically
from mlops_cli.render import Output, console, key_value_table

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_cli.services.loadtest import Snapshot

PLOT_SUFFIXES = (".png",)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


@contextmanager
def live_view(out: Output, target: str) -> Iterator[Callable[[Snapshot], None] | None]:
    """A one-line rich Live on stderr (rate, in flight, p50/p99, errors, instances); none when quiet or
    stderr is not a terminal."""
    err = console(stderr=True)
    if out.verbosity < 0 or not err.is_terminal:
        yield None
        return
    from rich.live import Live
    from rich.text import Text

    label = "instances" if target == "endpoint" else "concurrency"
    with Live(Text("starting…"), console=err, refresh_per_second=4, transient=True) as live:

        def show(s: Snapshot) -> None:
            live.update(
                Text(
                    ("warm-up | " if s.elapsed_s < 0 else "")
                    + f"{s.elapsed_s:.0f}/{s.duration_s:g} s | {s.rate:.1f}/s | in flight {s.in_flight} | "
                    f"waiting {s.waiting} | "
                    f"p50 {_ms(s.p50_ms)} p99 {_ms(s.p99_ms)} | errors {s.errors} | "
                    f"{label} {'-' if s.instances is None else s.instances}",
                    no_wrap=True,
                    overflow="ellipsis",
                )
            )

        yield show


def check_plot_path(path: Path) -> None:
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise UsageError(f"--plot {path}: the plot is written as PNG; name it *.png")
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot needs matplotlib: pip install 'mlops[plot]'")
    if not path.parent.is_dir():
        raise UsageError(f"--plot {path}: no such folder {path.parent}")


def write_plot(result: dict[str, Any], path: Path) -> None:
    """Latency (p50/p99 per second) and request rate over time, the instance count as a step line (PNG).

    Written to a temporary file and renamed, so a failed run leaves no half-written plot."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib.figure import Figure

    rows = result["timeline"]
    seconds = [row["t"] for row in rows]
    figure = Figure(figsize=(9, 6), dpi=100)
    latency, rate = figure.subplots(2, 1, sharex=True)
    latency.plot(seconds, [row["p50_ms"] for row in rows], label="p50")
    latency.plot(seconds, [row["p99_ms"] for row in rows], label="p99")
    latency.set_ylabel("latency (ms)")
    latency.legend(loc="upper left")
    latency.set_title(
        f"{result['target']} {result['name']}: {result['requests']} requests, "
        f"errors 4xx {result['errors']['4xx']} / 5xx {result['errors']['5xx']} / "
        f"throttled {result['errors']['throttled']} / dropped {result['dropped']}"
    )
    rate.bar(seconds, [row["ok"] for row in rows], width=0.9, label="ok / s", color="tab:blue")
    rate.bar(
        seconds,
        [row["errors"] for row in rows],
        width=0.9,
        bottom=[row["ok"] for row in rows],
        label="errors / s",
        color="tab:red",
    )
    rate.set_ylabel("requests / s")
    rate.set_xlabel("seconds since start")
    rate.legend(loc="upper left")
    points = result["instances"]
    if points:
        count = rate.twinx()
        times = [p["t"] for p in points] + [max(result["duration_s"], points[-1]["t"])]
        counts = [p["count"] for p in points] + [points[-1]["count"]]
        count.step(
            times,
            counts,
            where="post",
            color="black",
            label="instances" if result["target"] == "endpoint" else "concurrency",
        )
        count.set_ylabel("instances" if result["target"] == "endpoint" else "executions at once")
        count.set_ylim(0, max(counts) + 1)
        count.legend(loc="upper right")
    figure.tight_layout()
    write_atomically(path, lambda stream: figure.savefig(stream, format="png"))


def _figures(figures: dict[str, float | None]) -> str:
    return f"p50 {_ms(figures['p50'])}, p90 {_ms(figures['p90'])}, p99 {_ms(figures['p99'])}, max {_ms(figures['max'])}"


def loadtest_table(out: Console, data: dict[str, Any]) -> None:
    errors = data["errors"]
    rate = data["rate"]
    points = data["instances"]
    load = (
        f"{rate['start']:g} requests/s for {data['duration_s']:g} s"
        if rate["start"] == rate["end"]
        else f"{rate['start']:g} -> {rate['end']:g} requests/s over {data['duration_s']:g} s"
    )
    if data.get("warmup_s"):
        load += f", after a {data['warmup_s']:g} s warm-up ({data['warmup_requests']} requests, not counted)"
    rows: list[tuple[str, Any]] = [
        ("target", f"{data['target']} {data['name']}"),
        ("load", load),
        (
            "requests",
            f"{data['requests']} ({data['ok']} ok); offered {data['offered_rps']:g}/s, sent {data['achieved_rps']:g}/s",
        ),
        ("latency", f"{_figures(data['latency_ms'])} (from the due time, every request)"),
        ("service time", f"{_figures(data['service_ms'])} (from the send)"),
        (
            "errors",
            ", ".join(f"{kind} {count}" for kind, count in errors.items()) + f" ({data['error_percent']:g} %)",
        ),
        (
            "dropped",
            f"{data['dropped']} (waited over --timeout {data['timeout_s']:g} s for one of "
            f"--max-in-flight {data['max_in_flight']})",
        ),
        (
            "instances" if data["target"] == "endpoint" else "concurrency",
            " -> ".join(f"{p['count']} at {p['t']:g} s" for p in points) or "-",
        ),
    ]
    cold = data.get("cold_starts")
    if cold:
        rows.append(
            (
                "cold starts",
                f"{cold['count']}, p50 {_ms(cold['p50_ms'])}, max {_ms(cold['max_ms'])} "
                f"(warm p50 {_ms(cold['warm_p50_ms'])})",
            )
        )
    for key in ("plot", "samples"):
        if data.get(key):
            rows.append((key, data[key]))
    key_value_table("load test", rows)(out, data)
