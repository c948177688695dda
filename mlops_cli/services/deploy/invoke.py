"""`mlops invoke`: one image (a local file or an http(s) URL) to the endpoint, predictions back.

A file goes as its bytes with the content type its magic bytes say (the endpoint never trusts the name);
a URL goes as JSON `{"url": ...}` and the endpoint fetches it under its SSRF rules. The request and
response shapes are model/inference.py's.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_cli.errors import MlopsError, OperationError, UsageError, refused
from mlops_cli.plan import Plan

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # SageMaker real-time InvokeEndpoint request limit
DEFAULT_TOP_K = 5  # what the model answers for a bare image body
MAX_TOP_K = 100
JSON = "application/json"
# (magic prefix, content type); GIF/BMP/WebP travel as the generic application/x-image.
MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "application/x-image"),
    (b"GIF89a", "application/x-image"),
    (b"BM", "application/x-image"),
)
URL = re.compile(r"^https?://", re.I)


@dataclass
class InvokeRequest:
    source: str
    body: bytes
    content_type: str


def sniff_content_type(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "application/x-image"
    return next((content_type for magic, content_type in MAGIC if data.startswith(magic)), None)


def build_request(source: str, top_k: int = DEFAULT_TOP_K) -> InvokeRequest:
    if not 1 <= top_k <= MAX_TOP_K:
        raise UsageError(f"--top-k must be between 1 and {MAX_TOP_K} (got {top_k})")
    if URL.match(source):
        event = {"url": source} if top_k == DEFAULT_TOP_K else {"url": source, "top_k": top_k}
        return InvokeRequest(source, json.dumps(event).encode(), JSON)
    if "://" in source:
        raise UsageError(f"only http:// and https:// URLs can be sent, not '{source}'")
    path = Path(source)
    if path.is_dir():
        raise UsageError(f"{source} is a directory, not an image file")
    if not path.is_file():
        raise UsageError(
            f"no such image file: {source}"
            if not path.exists()
            else f"{source} is not a regular file (a device, FIFO or socket), not an image file"
        )
    if path.stat().st_size > MAX_PAYLOAD_BYTES:
        raise UsageError(
            f"{source} is {path.stat().st_size} bytes; an endpoint request takes at most {MAX_PAYLOAD_BYTES} bytes"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    content_type = sniff_content_type(data)
    if content_type is None:
        raise UsageError(f"{source} is not a JPEG, PNG, GIF, BMP or WebP image")
    if top_k == DEFAULT_TOP_K:
        return InvokeRequest(source, data, content_type)
    # A bare image body always gets the model's default top-k; another k travels in the JSON form.
    body = json.dumps({"image_b64": base64.b64encode(data).decode(), "top_k": top_k}).encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        raise UsageError(
            f"{source} is too large to send with --top-k {top_k} (base64 over {MAX_PAYLOAD_BYTES} "
            f"bytes); use the default --top-k {DEFAULT_TOP_K}"
        )
    return InvokeRequest(source, body, JSON)


class RequestBody(bytes):
    """The request body, shown in a printed plan as a summary (its source and size)."""

    source: str

    def __new__(cls, data: bytes, source: str) -> RequestBody:
        body = super().__new__(cls, data)
        body.source = source
        return body

    def __str__(self) -> str:
        return f"<{len(self)} bytes from {self.source}>"


def plan_invoke(endpoint: str, request: InvokeRequest) -> Plan:
    """One InvokeEndpoint with the request's body; its answer is the step `answer`'s."""
    plan = Plan(f"invoke endpoint {endpoint}")
    plan.add(
        "sagemaker-runtime",
        "InvokeEndpoint",
        {
            "EndpointName": endpoint,
            "ContentType": request.content_type,
            "Accept": JSON,
            "Body": RequestBody(request.body, request.source),
        },
        name="answer",
        action="invoke",
    )
    return plan


def predictions(endpoint: str, request: InvokeRequest, response: dict[str, Any]) -> dict[str, Any]:
    """The model's top-k predictions from InvokeEndpoint's answer, in the shape `lambda invoke` gives too:
    `source`, and `predictions` (the key this command has always had; `top_k` is the same list)."""
    payload = response["Body"].read()
    try:
        predictions = json.loads(payload)["predictions"][0]["top_k"]
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):  # whatever the remote side sends
        raise OperationError(
            f"endpoint '{endpoint}' answered something that is not a prediction: {payload[:200]!r}"
        ) from None
    return {
        "endpoint": endpoint,
        "source": request.source,
        "content_type": request.content_type,
        "variant": response.get("InvokedProductionVariant"),
        "top_k": predictions,
        "predictions": predictions,
    }


def model_error_message(original: str) -> str:
    """The model server's message: the "message" of TorchServe's own JSON errors, else the first line of what the
    SageMaker inference toolkit answered ("<message>\\n<traceback>"; the traceback is in the endpoint's log).
    The Lambda function (a one-file package) reads it the same way."""
    try:
        parsed = json.loads(original)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict):
        for key in ("message", "error"):
            if isinstance(parsed.get(key), str):
                return parsed[key]
    return original.strip().split("\n", 1)[0]


def invoke_error(endpoint: str, exc: Any) -> MlopsError:
    from mlops_cli.aws import error_code, error_message, translate_error

    code = error_code(exc)
    if code == "ModelError":
        status = exc.response.get("OriginalStatusCode")
        message = model_error_message(str(exc.response.get("OriginalMessage") or error_message(exc)))
        # A 5xx is the model's own failure: its traceback is in the endpoint's log group.
        hint = (
            f"the model server's output: CloudWatch Logs group /aws/sagemaker/Endpoints/{endpoint}"
            if isinstance(status, int) and status >= 500
            else None
        )
        return refused(status, f"endpoint '{endpoint}' refused the request ({status}): {message}", hint=hint)
    if code in ("ValidationError", "ValidationException") and re.search(
        r"not found|could not find", error_message(exc), re.I
    ):
        return OperationError(
            f"endpoint '{endpoint}' not found", hint="deploy it with `mlops deploy`, or pass --endpoint NAME"
        )
    return translate_error(exc)
