"""`mlops loadtest`: open-loop load on the endpoint or the Lambda function, a summary, a plot, a CI gate."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands._common import state
from mlops_cli.errors import OperationError


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
    max_in_flight: int = typer.Option(
        32, "--max-in-flight", metavar="C", help="Requests waiting at once; arrivals beyond are dropped and counted."
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
    from mlops_cli.plan import Plan
    from mlops_cli.render.loadtest import check_plot_path, live_view, loadtest_table, write_plot
    from mlops_cli.services import loadtest as service

    start_rate, end_rate = service.parse_rate(rate, ramp)
    limits = service.parse_fail_on(fail_on)
    if plot is not None:
        check_plot_path(plot)
    app_state = state(ctx)
    app_state.override({"deploy.endpoint_name": endpoint})
    config = app_state.config
    name = (
        config.endpoint_name if target == "endpoint" else function or f"{config.function_name}:{config.lambda_.alias}"
    )
    spec = service.LoadSpec(target, name, start_rate, end_rate, duration, max_in_flight, limits)
    service.check_spec(spec)
    payloads = service.load_images(images or Path(config.data.local_dir) / "test")
    if app_state.dry_run:
        count = len(service.arrival_times(start_rate, end_rate, duration))
        step = Plan(f"load test {target} {name}")
        if target == "endpoint":
            step.add(
                "sagemaker-runtime",
                "InvokeEndpoint",
                {"EndpointName": name, "Body": f"<{len(payloads)} images>"},
                note=f"{count} requests over {duration:g} s",
            )
        else:
            step.add(
                "lambda",
                "Invoke",
                {"FunctionName": name, "Payload": f"<{len(payloads)} images>"},
                note=f"{count} requests over {duration:g} s",
            )
        app_state.out.plan(step)
        return
    clients = app_state.clients

    def client_for(service_name: str):
        if service_name in ("sagemaker-runtime", "lambda"):
            return clients.load_client(service_name, max_in_flight)
        return clients.client(service_name)

    with live_view(app_state.out, target) as on_tick:
        result = service.run_load(spec, client_for, payloads, on_tick)
    result["plot"] = None
    if plot is not None:
        write_plot(result, plot)
        result["plot"] = str(plot)
    broken = service.failed_limits(result, limits)
    result["failed_limits"] = broken
    app_state.out.result(result, loadtest_table)
    if broken:
        raise OperationError(f"load test failed --fail-on: {'; '.join(broken)}")
