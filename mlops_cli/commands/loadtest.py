"""`mlops loadtest`: open-loop load on the endpoint or the Lambda function, a summary, a plot, a CI gate."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands._common import run, state


def loadtest(
    ctx: typer.Context,
    target: str = typer.Option("endpoint", "--target", metavar="endpoint|lambda", help="What to load."),
    rate: float | None = typer.Option(None, "--rate", metavar="R", help="Requests per second (default 5)."),
    ramp: str | None = typer.Option(
        None, "--ramp", metavar="R1:R2", help="Rate rising (or falling) linearly from R1 to R2 requests/s."
    ),
    duration: float = typer.Option(60, "--duration", metavar="S", help="Seconds of load."),
    images: Path | None = typer.Option(
        None, "--images", metavar="DIR", help="Images to send (default: the data set's test split)."
    ),
    requests: Path | None = typer.Option(
        None,
        "--requests",
        metavar="FILE",
        help="JSON lines to replay instead of images: a body (object), or an image path or URL (string).",
    ),
    order: str = typer.Option(
        "sequential", "--order", metavar="sequential|random", help="Order of the images or requests sent."
    ),
    max_in_flight: int = typer.Option(
        32,
        "--max-in-flight",
        metavar="C",
        help="Requests outstanding at once; arrivals beyond wait for one (counted from their due time).",
    ),
    timeout: float = typer.Option(
        30,
        "--timeout",
        metavar="S",
        help="Seconds a request may take (or wait to be sent) before it fails.",
    ),
    warmup: float = typer.Option(
        0, "--warmup", metavar="S", help="Seconds of load at the first rate before the measured duration."
    ),
    samples: Path | None = typer.Option(
        None, "--samples", metavar="FILE.csv", help="Write every request (due time, latency, outcome) as CSV."
    ),
    plot: Path | None = typer.Option(
        None, "--plot", metavar="FILE.png", help="Write latency, rate and instances over time to a PNG."
    ),
    fail_on: str | None = typer.Option(
        None, "--fail-on", metavar="p99>MS,errors>PCT", help="Exit 1 when a limit is broken (CI gate)."
    ),
    endpoint: str | None = typer.Option(None, "--endpoint", metavar="NAME", help="Default: the project's endpoint."),
    function: str | None = typer.Option(
        None, "--function", metavar="NAME[:ALIAS]", help="Default: the project's function and lambda.alias."
    ),
) -> None:
    from mlops_cli.render.loadtest import live_view, loadtest_table, write_plot
    from mlops_cli.render.plots import check_plot_path
    from mlops_cli.usecases.loadtest import LoadtestRequest, check_limits, planned_loadtest

    if plot is not None:
        check_plot_path(plot)
    app_state = state(ctx)
    app_state.override({"deploy.endpoint_name": endpoint})
    out = app_state.out
    request = LoadtestRequest(
        target,
        rate,
        ramp,
        duration,
        images,
        max_in_flight,
        fail_on,
        function,
        timeout=timeout,
        warmup=warmup,
        requests=requests,
        order=order,
        samples=samples,
    )
    result = run(
        app_state, planned_loadtest(app_state.config, app_state.clients, request, lambda: live_view(out, target))
    )
    if plot is not None:
        write_plot(result, plot)
        result["plot"] = str(plot)
    out.result(result, loadtest_table)
    check_limits(result)
