"""`mlops loadtest` output: the live view (stderr), the summary table and the plot file."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.render import Output, console, key_value_table, on_terminal
from mlops_cli.render.plots import save_plot

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_cli.services.deploy.loadtest import Snapshot


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


@contextmanager
def live_view(out: Output, target: str) -> Iterator[Callable[[Snapshot], None] | None]:
    """A one-line rich Live on stderr (rate, in flight, p50/p99, errors, instances); none when quiet or
    stderr is not a terminal."""
    if out.verbosity < 0 or not on_terminal(stderr=True):
        yield None
        return
    err = console(stderr=True)
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


ERROR_COLORS = {
    "4xx": "tab:orange",
    "5xx": "tab:red",
    "throttled": "tab:purple",
    "timeout": "tab:brown",
    "dropped": "tab:gray",
}
# The rate lines are a centred mean over enough seconds to hold about RATE_REQUESTS requests (within these
# bounds): at 1 request/s any one second counts 0, 1 or 2, and a short mean would draw that as a sawtooth.
RATE_REQUESTS = 20
RATE_SMOOTHING_S = (5, 30)


def _centred_mean(values: list[float], width: int) -> list[float]:
    half = width // 2
    means = []
    for i in range(len(values)):
        window = values[max(0, i - half) : i + half + 1]
        means.append(sum(window) / len(window))
    return means


def write_plot(result: dict[str, Any], path: Path) -> None:
    """Three panels over time (seconds since the measured start), written as PNG:

    - latency from the due time, p50/p90/p99 over the timeline's trailing window, with the --fail-on latency
      limits as SLO lines;
    - the offered rate (requests due) against the achieved one (answered ok), both as a centred mean, and the
      failures per second stacked by class (4xx, 5xx, throttled, timeout, dropped);
    - the instance count (or the Lambda executions at once) as a step line with whole-number ticks.

    Every change of an endpoint's instance count is marked on all three panels. Legends sit outside the axes.
    Written to a temporary file and renamed, so a failed run leaves no half-written plot."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rows = result["timeline"]
    seconds = [row["t"] for row in rows]
    endpoint = result["target"] == "endpoint"
    figure = Figure(figsize=(11, 8.5), dpi=100, layout="constrained")
    latency, rate, count = figure.subplots(3, 1, sharex=True, height_ratios=(3, 3, 2))
    window = rows[0]["window_s"] if rows else 0
    for name, style in (("p50_ms", "-"), ("p90_ms", "--"), ("p99_ms", "-")):
        values = [row[name] for row in rows]
        if any(v is not None for v in values):
            latency.plot(
                seconds,
                [float("nan") if v is None else v for v in values],
                style,
                label=f"{name[:3]} ({window} s window)",
                linewidth=2 if name == "p99_ms" else 1.2,
            )
    for name, limit in (result.get("fail_on") or {}).items():
        if name != "errors":
            latency.axhline(limit, color="crimson", linestyle=":", linewidth=1.5, label=f"SLO {name} <= {limit:g} ms")
    latency.set_ylabel("latency from due time (ms)")
    latency.set_ylim(bottom=0)
    latency.set_title(
        f"{result['target']} {result['name']}: {result['requests']} requests, {result['ok']} ok, "
        f"p99 {_ms(result['latency_ms']['p99'])} (service time p99 {_ms(result['service_ms']['p99'])})",
        loc="left",
    )

    mean_rate = result["requests"] / max(result["duration_s"], 1)
    smoothing = min(
        max(math.ceil(RATE_REQUESTS / mean_rate) if mean_rate else 1, RATE_SMOOTHING_S[0]), RATE_SMOOTHING_S[1]
    )
    rate.plot(
        seconds,
        _centred_mean([float(row["requests"]) for row in rows], smoothing),
        color="black",
        linestyle="--",
        label="offered (due) / s",
        zorder=3,  # over the achieved line, which covers it whenever every request is answered
    )
    rate.plot(
        seconds,
        _centred_mean([float(row["ok"]) for row in rows], smoothing),
        color="tab:blue",
        label="achieved (ok) / s",
    )
    bottom = [0] * len(rows)
    for kind, color in ERROR_COLORS.items():
        counts = [row["by_outcome"][kind] for row in rows]
        if any(counts):
            rate.bar(seconds, counts, width=0.9, bottom=bottom, color=color, alpha=0.8, label=f"{kind} / s")
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    rate.set_ylabel(f"requests / s ({smoothing} s mean)")
    rate.set_ylim(bottom=0)

    points = result["instances"]
    if points:
        times = [p["t"] for p in points] + [max(result["duration_s"], points[-1]["t"])]
        counts = [p["count"] for p in points] + [points[-1]["count"]]
        count.step(times, counts, where="post", color="black", linewidth=2)
        count.set_ylim(0, max(counts) + 1)
        # Scaling events: an endpoint's instance count changing (a function's executions change all the time).
        for before, after in zip(points, points[1:], strict=False) if endpoint else ():
            for axes in (latency, rate, count):
                axes.axvline(after["t"], color="seagreen", linestyle="-.", linewidth=1, alpha=0.7)
            count.annotate(
                f"{before['count']} -> {after['count']}",
                (after["t"], after["count"]),
                textcoords="offset points",
                xytext=(4, 4),
                color="seagreen",
            )
    count.yaxis.set_major_locator(MaxNLocator(integer=True))
    count.set_ylabel("instances" if endpoint else "executions at once")
    count.set_xlabel("seconds since the start of the measured load")
    count.set_xlim(0, max(result["duration_s"], 1))
    for axes in (latency, rate, count):
        axes.grid(True, alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    save_plot(figure, path)


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
    if cold and "max_setup_ms" in cold:  # a serverless endpoint: SageMaker's ModelSetupTime
        rows.append(
            ("cold starts", f"{cold['count']}, longest model setup {_ms(cold['max_setup_ms'])} ({cold['source']})")
        )
    elif cold:
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
