"""Helpers for the Lambda tests: loading the handler as Lambda would, events of every shape, leak checks."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
from types import ModuleType, SimpleNamespace

import pytest

from tests.helpers import REPO

HANDLER_FILE = REPO / "mlops_cli" / "lambda_function" / "handler.py"
MISSING_ENDPOINT = "no-such-endpoint"

# Values a leaking handler would copy from its context into a response.
CONTEXT = SimpleNamespace(
    aws_request_id="req-7f3c",
    function_name="secret-function-name",
    function_version="42",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:secret-function-name:live",
    memory_limit_in_mb="256",
    log_group_name="/aws/lambda/secret-function-name",
    log_stream_name="2026/01/01/[42]secretstream",
    get_remaining_time_in_millis=lambda: 30_000,
)
CONTEXT_VALUES = ("secret-function-name", "123456789012", "secretstream", "req-7f3c")


def load_handler(monkeypatch: pytest.MonkeyPatch, local_aws: str, endpoint: str) -> ModuleType:
    """A fresh copy of the function's module, initialised as Lambda would (env, then import)."""
    from mlops_cli.local.core import credentials

    local_env = credentials.process_env(local_aws, "us-east-1", credentials.load(local_aws))
    for name, value in {"ENDPOINT_NAME": endpoint, **local_env}.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location(f"lambda_handler_{endpoint.replace('-', '_')}", HANDLER_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_bytes(size: int = 8) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rest_v1(
    body: str,
    content_type: str = "application/json",
    encoded: bool = False,
    method: str = "POST",
    query: dict | None = None,
) -> dict:
    """An API Gateway REST API (v1) proxy event."""
    return {
        "resource": "/predict",
        "path": "/predict",
        "httpMethod": method,
        "headers": {"Content-Type": content_type, "Host": "abc.execute-api.us-east-1.amazonaws.com"},
        "queryStringParameters": query,
        "requestContext": {"stage": "prod", "requestId": "r1", "accountId": "123456789012"},
        "body": body,
        "isBase64Encoded": encoded,
    }


def http_v2(
    body: str,
    content_type: str = "application/json",
    encoded: bool = False,
    method: str = "POST",
    query: dict | None = None,
    function_url: bool = False,
) -> dict:
    """An API Gateway HTTP API (v2) or function URL event (the same payload format 2.0)."""
    domain = "abc.lambda-url.us-east-1.on.aws" if function_url else "abc.execute-api.us-east-1.amazonaws.com"
    event = {
        "version": "2.0",
        "routeKey": "$default" if function_url else "POST /predict",
        "rawPath": "/predict",
        "headers": {"content-type": content_type, "host": domain},
        "requestContext": {
            "domainName": domain,
            "http": {"method": method, "path": "/predict"},
            "accountId": "123456789012",
        },
        "body": body,
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = query
    return event


def body_of(response: dict) -> dict:
    assert response["headers"] == {"Content-Type": "application/json"}
    return json.loads(response["body"])


def assert_no_leak(response: dict) -> None:
    text = json.dumps(response)
    assert "Traceback" not in text and 'File \\"' not in text and 'File "' not in text
    for value in CONTEXT_VALUES:
        assert value not in text, f"response leaks {value}"
