"""moto's server and request routing, configured for the embedded AWS.

- `server_app`/`server_request_handler`: moto's own WSGI app and request handler (`configure` sets moto up).
- `service_model`/`route`/`parse_params`: botocore's service model as moto loads it, and a request matched to
  its operation by moto's router and parsed by its protocol parsers.
"""

from __future__ import annotations

import functools
import io
import os
from typing import Any


def configure() -> None:
    """moto settings for the embedded AWS: AWS managed policies loaded, Lambda without Docker, no CORS."""
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    os.environ["MOTO_DISABLE_GLOBAL_CORS"] = "true"  # web pages must not reach the local AWS
    from moto.core.config import default_user_config

    default_user_config["iam"]["load_aws_managed_policies"] = True
    default_user_config["lambda"]["use_docker"] = False


def server_app() -> Any:
    """moto's server as a WSGI app (every service, dispatched by host and path), configured by `configure`."""
    configure()
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    # moto's dispatcher lists its own package folder (a stat per module, ~150) on every request to find the
    # service; the folder does not change while the server runs. Listed once, requests and journal replay are
    # faster (bench/bench_durability.py).
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    app = DomainDispatcherApplication(create_backend_app)
    # It also asks which backend serves a host name four times per request, each a scan of every backend's URL
    # patterns (~340 regular-expression matches); the answer depends on the name alone. Bounded: names come
    # from requests.
    app.get_backend_for_host = functools.lru_cache(maxsize=256)(app.get_backend_for_host)  # type: ignore[method-assign]
    return app


def server_request_handler() -> Any:
    """moto's werkzeug request handler (it keeps the raw request line moto's S3 needs)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    return MotoRequestHandler


def service_model(service: str) -> Any:
    """botocore's service model of `service`, as moto loads it."""
    from moto.core.utils import get_service_model

    return get_service_model(service)


def route(service: str, environ: dict[str, Any], body: bytes) -> tuple[Any, dict[str, Any], str, Any] | None:
    """(operation model, URI parameters, protocol, moto request) of a request to `service`, by moto's own router;
    None when it is no operation of the service model."""
    from moto.core.request import Request, determine_request_protocol
    from moto.core.routing import NotFound, get_service_router

    routing_environ = dict(environ)
    routing_environ["wsgi.input"] = io.BytesIO(body)
    routing_environ["CONTENT_LENGTH"] = str(len(body))
    request = Request(routing_environ)
    try:
        operation, uri_params = get_service_router(service).match(request)
        protocol = determine_request_protocol(service_model(service), request.content_type)
    except (NotFound, NotImplementedError):  # no operation of the model: moto answers it as it always did
        return None
    return operation, uri_params, protocol, request


def parse_params(routed: tuple[Any, dict[str, Any], str, Any], body: bytes, headers: Any) -> dict[str, Any]:
    """The parameters of a `route`d request, by moto's protocol parsers; ValueError on a body that does not parse."""
    from moto.core.parse import PROTOCOL_PARSERS

    operation, uri_params, protocol, request = routed
    rest = protocol.startswith("rest")
    parser = PROTOCOL_PARSERS[protocol](operation)
    try:
        return parser.parse(
            {
                "method": request.method,
                "values": request.args if rest else request.values,
                "headers": headers,
                "body": body,
                "url_path": request.path,
                "url_params": uri_params,
            }
        )
    except Exception as exc:  # moto's parsers raise what int()/json/XML raise on a body that is not the shape
        raise ValueError(str(exc) or type(exc).__name__) from None
