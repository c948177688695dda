"""`mlops loadtest`: the flags checked, the images read, and the load as a plan; a real run sends it open-loop
(services/deploy/loadtest.py), the result judged against --fail-on."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import OperationError, UsageError
from mlops_cli.plan.sends import sends_via
from mlops_cli.services.deploy import loadtest as service

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config
    from mlops_cli.plan.planned import Planned
    from mlops_cli.services.deploy.loadtest import Snapshot

# The live view while the load runs: entered only by a real run; gives what to call every tick (None: nothing).
LiveView = Callable[[], AbstractContextManager[Callable[["Snapshot"], None] | None]]


@dataclass(frozen=True)
class LoadtestRequest:
    """What the flags ask for (the endpoint name arrives through the config)."""

    target: str = "endpoint"
    rate: float | None = None
    ramp: str | None = None
    duration: float = 60
    images: Path | None = None  # default: the data set's test split
    max_in_flight: int = 32
    fail_on: str | None = None
    function: str | None = None  # NAME[:ALIAS]; default: the project's function and lambda.alias
    timeout: float = service.DEFAULT_TIMEOUT_S
    warmup: float = 0
    requests: Path | None = None  # JSON lines replayed instead of the images
    order: str = "sequential"
    samples: Path | None = None  # raw samples (CSV) written here


@sends_via(service.run_load)  # the load is sent by the plan's own run (send)
def planned_loadtest(config: Config, clients: AwsClients, request: LoadtestRequest, live_view: LiveView) -> Planned:
    """Check the flags (exit 2 before any AWS call), read the images or the requests file, plan the load; the
    result also carries `plot` (None), `samples` (the CSV written, or None) and `failed_limits`."""
    from mlops_cli.plan import Answers
    from mlops_cli.plan.planned import Planned

    start_rate, end_rate = service.parse_rate(request.rate, request.ramp)
    limits = service.parse_fail_on(request.fail_on)
    target = request.target
    name = (
        config.endpoint_name
        if target == "endpoint"
        else request.function or f"{config.function_name}:{config.lambda_.alias}"
    )
    spec = service.LoadSpec(
        target,
        name,
        start_rate,
        end_rate,
        request.duration,
        request.max_in_flight,
        limits,
        timeout_s=request.timeout,
        warmup_s=request.warmup,
        order=request.order,
    )
    service.check_spec(spec)
    if request.requests is not None and request.images is not None:
        raise UsageError("give --images or --requests, not both")
    if request.samples is not None:
        service.check_samples_path(request.samples)
    if request.requests is not None:
        payloads, source = service.load_requests(request.requests), "requests"
    else:
        payloads, source = service.load_images(request.images or Path(config.data.local_dir) / "test"), "images"

    def client_for(service_name: str) -> Any:
        if service_name in ("sagemaker-runtime", "lambda"):
            return clients.load_client(service_name, request.max_in_flight, request.timeout)
        return clients.client(service_name)

    def send(_executor: Any, _plan: Any) -> Answers:
        with live_view() as on_tick:
            summary, samples = service.run_load(spec, client_for, payloads, on_tick)
        return Answers({"load": summary, "samples": samples})

    def finish(answers: Answers) -> dict[str, Any]:
        result = answers["load"]
        result["plot"] = None  # the command writes the plot, when asked for one
        result["samples"] = None
        if request.samples is not None:
            service.write_samples(request.samples, answers["samples"])
            result["samples"] = str(request.samples)
        result["fail_on"] = limits
        result["failed_limits"] = service.failed_limits(result, limits)
        return result

    return Planned(service.plan_load(spec, len(payloads), source), finish=finish, run=send, reads_aws=False)


def check_limits(result: dict[str, Any]) -> None:
    """The CI gate: exit 1 when the load broke a --fail-on limit."""
    if result["failed_limits"]:
        raise OperationError(f"load test failed --fail-on: {'; '.join(result['failed_limits'])}")
