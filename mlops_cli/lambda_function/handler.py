"""The Lambda function in front of the SageMaker endpoint (the whole deployment package: stdlib + boto3).

Events it accepts:

- a direct invocation: ``{"url": "https://..."}`` or ``{"image_b64": "<base64>"}``, optionally ``"top_k"``;
- an API Gateway proxy event (REST API v1 or HTTP API v2) or a function URL event, ``POST`` with either a JSON
  body of the same shape (``isBase64Encoded`` bodies are decoded) or one raw image (``Content-Type: image/*``,
  base64-encoded by the gateway), ``?top_k=N`` in the query string.

It answers ``{"statusCode", "headers": {"Content-Type": "application/json"}, "body"}`` where ``body`` is the
endpoint's JSON predictions, or ``{"error": message}``: 400 (413, 415, 405) for a bad request (any event
that is not one of the shapes above, however malformed), the endpoint's own 4xx when it refused the image,
503 when its model server was busy, 502 for other endpoint errors, 504 when it did not answer in time, 500
for anything unexpected (a generic message; details go to the log only). The model server's message is the
first line of what it answered (the SageMaker inference toolkit puts a traceback after it), with account ids,
ARNs and console links removed. Nothing from the Lambda context or a stack trace is ever put in a response.
Each request logs one JSON line (never image data or full URLs).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

# Lambda's synchronous payload limit is 6 MB; an image must fit in it once base64-encoded (4/3 larger).
MAX_BODY_CHARS = 6 * 1024 * 1024
MAX_IMAGE_BYTES = 4 * 1024 * 1024
MAX_URL_CHARS = 2048
MAX_TOP_K = 100
ALLOWED_FIELDS = ("url", "image_b64", "top_k")
# Content types the endpoint's input_fn takes for a raw image body; other image/* types are sent as x-image.
ENDPOINT_IMAGE_TYPES = ("image/jpeg", "image/png", "application/x-image")
JSON_HEADERS = {"Content-Type": "application/json"}

# Initialisation, once per execution environment (and ahead of requests with provisioned concurrency):
# a missing endpoint name fails the init loudly instead of every request.
ENDPOINT_NAME = os.environ["ENDPOINT_NAME"]
# The endpoint call must give up while the function can still answer 504: one attempt, connecting and reading
# within the invocation's remaining time less ANSWER_MARGIN_MS (to log and return).
CONNECT_TIMEOUT_S = 2
ANSWER_MARGIN_MS = 1500


def endpoint_timeouts(context: object) -> tuple[int, int]:
    """(connect, read) timeouts in whole seconds that fit in this invocation's remaining time (1 s each at least)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget_s = ((remaining() if callable(remaining) else 30_000) - ANSWER_MARGIN_MS) // 1000
    connect = min(CONNECT_TIMEOUT_S, max(1, budget_s // 2))
    return connect, max(1, budget_s - connect)


@functools.lru_cache(maxsize=4)  # invocations of one function have about the same time left: one client
def runtime_for(connect_timeout: int, read_timeout: int) -> Any:
    return boto3.client(
        "sagemaker-runtime",
        config=Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": 1},
        ),
    )


class BadRequest(Exception):
    """The caller's request is unusable: answered with ``status`` and this message."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class EndpointFailure(Exception):
    """The endpoint refused or failed the request: answered with ``status`` and the sanitized message."""

    def __init__(self, message: str, status: int = 502):
        super().__init__(message)
        self.status = status


def respond(status: int, payload: object) -> dict:
    return {"statusCode": status, "headers": dict(JSON_HEADERS), "body": json.dumps(payload)}


# --- parsing the event --------------------------------------------------------------------------------------


def is_proxy_event(event: dict) -> bool:
    return "requestContext" in event or "httpMethod" in event or "body" in event or "routeKey" in event


def header(event: dict, name: str) -> str:
    """A request header, case-insensitively (API Gateway v1 keeps the client's case, v2 lowercases)."""
    headers = event.get("headers") or {}
    if not isinstance(headers, dict):
        return ""
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return value if isinstance(value, str) else ""
    return ""


def http_method(event: dict) -> str:
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    method = (http.get("method") if isinstance(http, dict) else None) or event.get("httpMethod") or "POST"
    return str(method).upper()


def decode_base64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise BadRequest(f"{what} must be a base64 string")
    if len(text) > MAX_BODY_CHARS:  # refused before it is decoded
        raise BadRequest(f"{what} is larger than {MAX_BODY_CHARS} characters", status=413)
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{what} is not valid base64") from None


def parse_top_k(value: object) -> int:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 3:  # Python caps int()'s digits
        value = int(value)
    if type(value) is not int or not 1 <= value <= MAX_TOP_K:
        raise BadRequest(f'"top_k" must be an integer from 1 to {MAX_TOP_K}')
    return value


def check_url(url: object) -> str:
    """Shape checks only: the endpoint fetches the URL under its own SSRF rules."""
    if not isinstance(url, str) or not url.strip():
        raise BadRequest('"url" must be a non-empty string')
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise BadRequest(f'"url" is longer than {MAX_URL_CHARS} characters')
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError:
        raise BadRequest('"url" is not a valid URL') from None
    if parts.scheme not in ("http", "https"):
        raise BadRequest('"url" must be an http or https URL')
    if not parts.hostname:
        raise BadRequest('"url" has no host')
    return url


def check_image(data: bytes) -> bytes:
    if not data:
        raise BadRequest("the image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise BadRequest(f"the image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}", status=413)
    return data


def request_from_json(payload: object) -> dict:
    """The endpoint's JSON request ({"url"} or {"image_b64"}, optional "top_k") from a validated object."""
    if not isinstance(payload, dict):
        raise BadRequest('the request must be a JSON object like {"url": ...} or {"image_b64": ...}')
    unknown = sorted(str(key) for key in payload if key not in ALLOWED_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)[:200]}; expected url or image_b64, and top_k")
    if ("url" in payload) == ("image_b64" in payload):
        raise BadRequest('give exactly one of "url" or "image_b64"')
    request: dict = {}
    if "url" in payload:
        request["url"] = check_url(payload["url"])
    else:
        check_image(decode_base64(payload["image_b64"], '"image_b64"'))
        request["image_b64"] = payload["image_b64"].strip()
    if "top_k" in payload:
        request["top_k"] = parse_top_k(payload["top_k"])
    return request


def parse_event(event: object) -> tuple[str, bytes, dict]:
    """(content type, body for the endpoint, what to log) from any accepted event shape."""
    if not isinstance(event, dict):
        raise BadRequest("the event must be a JSON object")
    if not is_proxy_event(event):
        request = request_from_json(event)
        return "application/json", json.dumps(request).encode(), {"source": "direct", **describe(request)}
    source = "apigw-v2" if event.get("version") == "2.0" else "apigw-v1"
    if http_method(event) != "POST":
        raise BadRequest("use POST with a JSON body or an image", status=405)
    body = event.get("body")
    if body is None or body == "":
        raise BadRequest("the request body is empty")
    if not isinstance(body, str):
        raise BadRequest("the request body must be a string")
    if len(body) > MAX_BODY_CHARS:
        raise BadRequest(f"the request body is larger than {MAX_BODY_CHARS} bytes", status=413)
    raw = decode_base64(body, "the base64-encoded body") if event.get("isBase64Encoded") is True else None
    media_type = header(event, "content-type").split(";")[0].strip().lower()
    if media_type in ("", "application/json"):
        try:
            payload = json.loads(raw if raw is not None else body)
        except RecursionError:
            raise BadRequest("the request body is nested too deeply") from None
        except ValueError:  # also UnicodeDecodeError
            raise BadRequest("the request body is not valid JSON") from None
        request = request_from_json(payload)
        return "application/json", json.dumps(request).encode(), {"source": source, **describe(request)}
    if media_type.startswith("image/") or media_type in ("application/x-image", "application/octet-stream"):
        if raw is None:
            raise BadRequest("a raw image body must arrive base64-encoded (isBase64Encoded: true)")
        image = check_image(raw)
        query = event.get("queryStringParameters") or {}
        top_k = query.get("top_k") if isinstance(query, dict) else None
        log = {"source": source, "input": "image", "bytes": len(image)}
        if top_k is not None:
            request = {"image_b64": base64.b64encode(image).decode(), "top_k": parse_top_k(top_k)}
            return "application/json", json.dumps(request).encode(), log
        content_type = media_type if media_type in ENDPOINT_IMAGE_TYPES else "application/x-image"
        return content_type, image, log
    raise BadRequest(f"unsupported Content-Type {media_type[:100]!r}; send application/json or image/*", status=415)


def describe(request: dict) -> dict:
    """What the log line says about a request: the kind of input and its size, never the data itself."""
    if "url" in request:
        return {"input": "url", "host": (urlsplit(request["url"]).hostname or "")[:253]}
    return {"input": "image_b64", "bytes": len(request["image_b64"]) * 3 // 4}


# --- calling the endpoint -----------------------------------------------------------------------------------

_ARN = re.compile(r"arn:aws[\w-]*:[\w-]+:[\w-]*:\d{12}:[^\s\"',]+")
_ACCOUNT = re.compile(r"\b\d{12}\b")
_SEE_LOGS = re.compile(r"\s*See https?://\S+.*?for more information\.?", re.S)
_URL = re.compile(r"https?://\S+")


def sanitize(message: str) -> str:
    """The endpoint's message without links to the console, ARNs or account ids, on one line."""
    message = _SEE_LOGS.sub("", message)
    message = _ARN.sub("<arn>", message)
    message = _URL.sub("<url>", message)
    message = _ACCOUNT.sub("<account>", message)
    return " ".join(message.split())[:500] or "the endpoint failed"


def model_message(original: str) -> str:
    """The model server's message: the "message"/"error" of a JSON answer (TorchServe's own errors), else the
    first line (the SageMaker inference toolkit answers "<message>\\n<traceback>")."""
    try:
        parsed = json.loads(original)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict):
        for key in ("message", "error", "errorMessage"):
            if isinstance(parsed.get(key), str):
                return parsed[key]
    return original.strip().split("\n", 1)[0]


def invoke_endpoint(content_type: str, body: bytes, timeouts: tuple[int, int]) -> object:
    try:
        response = runtime_for(*timeouts).invoke_endpoint(
            EndpointName=ENDPOINT_NAME, ContentType=content_type, Accept="application/json", Body=body
        )
        answer = response["Body"].read()
    except ClientError as error:
        # Read here, not through mlops_cli.aws.error_code: the deployment package is this file alone.
        details = error.response.get("Error", {})
        original_status = error.response.get("OriginalStatusCode")
        if details.get("Code") == "ModelError" and isinstance(original_status, int):
            message = sanitize(model_message(str(error.response.get("OriginalMessage") or "")))
            if 400 <= original_status < 500:  # the model refused the image (not an image, too large...)
                raise EndpointFailure(message, status=original_status) from None
            # 503: the model server's queue was full; the caller may retry.
            raise EndpointFailure(
                f"the model failed ({original_status}): {message}", status=503 if original_status == 503 else 502
            ) from None
        raise EndpointFailure(sanitize(f"{details.get('Code', 'Error')}: {details.get('Message', '')}")) from None
    except (ReadTimeoutError, ConnectTimeoutError):
        raise EndpointFailure("the endpoint did not answer in time", status=504) from None
    except BotoCoreError:
        raise EndpointFailure("the endpoint could not be reached") from None
    try:
        return json.loads(answer)
    except (ValueError, RecursionError):
        raise EndpointFailure("the endpoint's answer is not JSON") from None


# --- the entry point ----------------------------------------------------------------------------------------


def lambda_handler(event: object, context: object) -> dict:
    started = time.monotonic()
    log: dict = {"request_id": getattr(context, "aws_request_id", None), "endpoint": ENDPOINT_NAME}
    try:
        content_type, body, described = parse_event(event)
        log.update(described)
        response = respond(200, invoke_endpoint(content_type, body, endpoint_timeouts(context)))
    except (BadRequest, EndpointFailure) as error:
        log["error"] = str(error)
        response = respond(error.status, {"error": str(error)})
    except Exception as error:  # never a stack trace or context in the answer; the type goes to the log
        log["error"] = f"unexpected {type(error).__name__}"
        response = respond(500, {"error": "internal error; see the function's log"})
    log.update(status=response["statusCode"], ms=round((time.monotonic() - started) * 1000, 1))
    print(json.dumps(log, default=str))
    return response
