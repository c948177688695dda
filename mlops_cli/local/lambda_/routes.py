"""The Lambda calls the local AWS answers itself (moto answers and records the rest): functions run here, with
reserved and provisioned concurrency."""

from __future__ import annotations

from mlops_cli.local.core.server import Hooks, ServerContext
from mlops_cli.local.lambda_.function_requests import FunctionRequests

FUNCTION = r"^/\d{4}-\d{2}-\d{2}/functions/(?P<name>[^/]+)"


def register(hooks: Hooks, context: ServerContext) -> None:
    local = FunctionRequests(context)
    hooks.route("POST", FUNCTION + r"/invocations/?$", local.invoke, service="lambda")
    hooks.route("POST", r"^/\d{4}-\d{2}-\d{2}/functions/?$", local.check_function, service="lambda")
    hooks.route("PUT", FUNCTION + r"/(code|configuration)/?$", local.check_function, service="lambda")
    hooks.route("PUT", FUNCTION + r"/concurrency/?$", local.put_function_concurrency, service="lambda")
    hooks.route("GET", FUNCTION + r"/?$", local.get_function, service="lambda")
    for method in ("GET", "PUT", "DELETE"):
        hooks.route(method, FUNCTION + r"/provisioned-concurrency/?$", local.provisioned_concurrency, service="lambda")
    hooks.route("GET", r"^/\d{4}-\d{2}-\d{2}/account-settings/?$", local.account_settings, service="lambda")
