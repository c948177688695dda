"""The Lambda function's handler, run in-process against the local AWS (its endpoint does not exist here;
the success path through a real endpoint is in test_lambda_e2e.py).

Every accepted event shape must reach the endpoint with the request the endpoint's input_fn expects;
every bad event must be refused with a 4xx naming the problem, never a traceback or context values.
"""

from __future__ import annotations

import base64
import json

import pytest
from lambda_helpers import (
    CONTEXT,
    HANDLER_FILE,
    MISSING_ENDPOINT,
    assert_no_leak,
    b64,
    body_of,
    http_v2,
    png_bytes,
    rest_v1,
)

IMAGE = png_bytes()
URL = "https://images.example.com/digits/7.png"


# --- every accepted event shape, and what it sends to the endpoint -----------------------------------------

ACCEPTED = {
    "direct url": ({"url": URL}, "application/json", {"url": URL}),
    "direct image_b64 with top_k": (
        {"image_b64": b64(IMAGE), "top_k": 3},
        "application/json",
        {"image_b64": b64(IMAGE), "top_k": 3},
    ),
    "REST v1 JSON body": (rest_v1(json.dumps({"url": URL, "top_k": 2})), "application/json", {"url": URL, "top_k": 2}),
    "REST v1 base64-encoded JSON body": (
        rest_v1(b64(json.dumps({"image_b64": b64(IMAGE)}).encode()), encoded=True),
        "application/json",
        {"image_b64": b64(IMAGE)},
    ),
    "REST v1 JSON with charset": (
        rest_v1(json.dumps({"url": URL}), "application/json; charset=utf-8"),
        "application/json",
        {"url": URL},
    ),
    "HTTP API v2 JSON body": (http_v2(json.dumps({"url": URL})), "application/json", {"url": URL}),
    "HTTP API v2 raw PNG": (http_v2(b64(IMAGE), "image/png", encoded=True), "image/png", IMAGE),
    "function URL raw JPEG type": (
        http_v2(b64(IMAGE), "image/jpeg", encoded=True, function_url=True),
        "image/jpeg",
        IMAGE,
    ),
    "function URL raw image/webp": (
        http_v2(b64(IMAGE), "image/webp", encoded=True, function_url=True),
        "application/x-image",
        IMAGE,
    ),
    "raw image with ?top_k": (
        rest_v1(b64(IMAGE), "image/png", encoded=True, query={"top_k": "4"}),
        "application/json",
        {"image_b64": b64(IMAGE), "top_k": 4},
    ),
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_event_shape_becomes_the_endpoint_request(handler, name):
    event, content_type, expected = ACCEPTED[name]
    sent_type, body, _ = handler.parse_event(event)
    assert sent_type == content_type
    assert (json.loads(body) if content_type == "application/json" else body) == expected


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_event_shape_reaches_the_endpoint(handler, name):
    """Past validation, the request goes to SageMaker runtime: here the endpoint is missing, so a 502."""
    response = handler.lambda_handler(ACCEPTED[name][0], CONTEXT)
    assert response["statusCode"] == 502, response
    assert f"Endpoint {MISSING_ENDPOINT} of account <account> not found" in body_of(response)["error"]
    assert_no_leak(response)


# --- bad events: each a 400 naming the problem -------------------------------------------------------------

BAD_EVENTS = {
    "event is a list": ([{"url": URL}], "JSON object"),
    "event is a string": ("hello", "JSON object"),
    "neither url nor image": ({}, "exactly one"),
    "both url and image": ({"url": URL, "image_b64": b64(IMAGE)}, "exactly one"),
    "unknown field": ({"url": URL, "logits": True}, "unknown field(s): logits"),
    "ftp URL": ({"url": "ftp://example.com/a.png"}, "http or https"),
    "file URL": ({"url": "file:///etc/passwd"}, "http or https"),
    "URL not a string": ({"url": 42}, "non-empty string"),
    "URL without host": ({"url": "http:///a.png"}, "no host"),
    "URL with bad port": ({"url": "http://example.com:99999/a.png"}, "not a valid URL"),
    "URL too long": ({"url": "https://example.com/" + "a" * 3000}, "longer than"),
    "image not base64": ({"image_b64": "!!not base64!!"}, "not valid base64"),
    "image empty": ({"image_b64": ""}, "image is empty"),
    "image not a string": ({"image_b64": ["x"]}, "base64 string"),
    "top_k zero": ({"url": URL, "top_k": 0}, '"top_k" must be an integer'),
    "top_k boolean": ({"url": URL, "top_k": True}, '"top_k" must be an integer'),
    "top_k too large": ({"url": URL, "top_k": 101}, '"top_k" must be an integer'),
    "proxy body not JSON": (rest_v1("{not json"), "not valid JSON"),
    "proxy body empty": (rest_v1(""), "body is empty"),
    "proxy body missing": ({**http_v2(""), "body": None}, "body is empty"),
    "proxy body is a JSON list": (http_v2(json.dumps([{"url": URL}])), "JSON object"),
    "proxy bad base64 body": (rest_v1("%%%", encoded=True), "not valid base64"),
    "proxy raw image not base64-encoded": (http_v2("\x89PNG...", "image/png"), "base64-encoded"),
    "proxy ?top_k not a number": (
        rest_v1(b64(IMAGE), "image/png", encoded=True, query={"top_k": "many"}),
        '"top_k" must be an integer',
    ),
    "proxy body nested 100000 deep": (rest_v1("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    "proxy base64 body not UTF-8": (rest_v1(b64(b"\xff\xfe{}"), encoded=True), "not valid JSON"),
    "proxy body is an object": ({**http_v2(""), "body": {"url": URL}}, "body must be a string"),
    "proxy body is a number": ({**rest_v1(""), "body": 7}, "body must be a string"),
    "URL is a nested list": ({"url": [[[[URL]]]]}, "non-empty string"),
    "image not ASCII": ({"image_b64": "é" * 12}, "not valid base64"),
    "top_k a float": ({"url": URL, "top_k": 2.5}, '"top_k" must be an integer'),
    "top_k a huge number string": ({"url": URL, "top_k": "9" * 5000}, '"top_k" must be an integer'),
}


@pytest.mark.parametrize("name", BAD_EVENTS)
def test_bad_events_are_400_with_a_message_and_no_leak(handler, capsys, name):
    event, expected = BAD_EVENTS[name]
    response = handler.lambda_handler(event, CONTEXT)
    assert response["statusCode"] == 400, response
    assert expected in body_of(response)["error"]
    assert_no_leak(response)
    log = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert log["status"] == 400 and log["error"] == body_of(response)["error"]


def test_other_refusals_have_their_own_status(handler):
    too_big = b"\x89PNG" + bytes(handler.MAX_IMAGE_BYTES)
    cases = [
        ({"image_b64": b64(too_big)}, 413, f"the limit is {handler.MAX_IMAGE_BYTES}"),
        (http_v2(b64(too_big), "image/png", encoded=True), 413, "the limit is"),
        (rest_v1("x" * (handler.MAX_BODY_CHARS + 1)), 413, "request body is larger"),
        ({"image_b64": "A" * (handler.MAX_BODY_CHARS + 4)}, 413, '"image_b64" is larger than'),
        (rest_v1("a=1", "application/x-www-form-urlencoded"), 415, "unsupported Content-Type"),
        (http_v2(json.dumps({"url": URL}), method="GET"), 405, "use POST"),
    ]
    for event, status, message in cases:
        response = handler.lambda_handler(event, CONTEXT)
        assert response["statusCode"] == status, (event.get("headers"), response)
        assert message in body_of(response)["error"]
        assert_no_leak(response)


# --- endpoint errors, unexpected errors, logging ----------------------------------------------------------------


def test_endpoint_error_is_502_with_the_endpoints_message_sanitized(handler):
    response = handler.lambda_handler({"url": URL}, CONTEXT)
    assert response["statusCode"] == 502
    error = body_of(response)["error"]
    # SageMaker runtime's own message, without the account id it names.
    assert error == f"ValidationError: Endpoint {MISSING_ENDPOINT} of account <account> not found."
    assert_no_leak(response)


def test_sanitize_removes_arns_accounts_and_console_links(handler):
    message = (
        'Received client error (415) from primary with message "not an image". See https://us-east-1.'
        "console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:group=/aws/sagemaker/"
        "Endpoints/e in account 123456789012 for more information. arn:aws:sagemaker:us-east-1:"
        "123456789012:endpoint/e"
    )
    cleaned = handler.sanitize(message)
    assert cleaned == 'Received client error (415) from primary with message "not an image". <arn>'


def test_unexpected_error_is_a_generic_500(handler, monkeypatch, capsys):
    # The SageMaker runtime client replaced by something unusable: an error nobody planned for.
    monkeypatch.setattr(handler, "runtime_for", lambda *timeouts: None)
    response = handler.lambda_handler({"url": URL}, CONTEXT)
    assert response["statusCode"] == 500
    assert body_of(response) == {"error": "internal error; see the function's log"}
    assert_no_leak(response)
    assert "AttributeError" not in response["body"]
    log = json.loads(capsys.readouterr().out.strip())
    assert log["error"] == "unexpected AttributeError"


def test_one_log_line_per_request_without_image_data(handler, capsys):
    handler.lambda_handler({"image_b64": b64(IMAGE), "top_k": 2}, CONTEXT)
    handler.lambda_handler(http_v2(b64(IMAGE), "image/png", encoded=True), CONTEXT)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["input"] == "image_b64" and first["source"] == "direct" and first["status"] == 502
    assert second["input"] == "image" and second["source"] == "apigw-v2" and second["bytes"] == len(IMAGE)
    assert first["request_id"] == CONTEXT.aws_request_id
    encoded = base64.b64encode(IMAGE).decode()
    assert all(encoded[:40] not in line for line in lines)


def test_the_function_needs_its_endpoint_name_at_init(handler, monkeypatch):
    """A misconfigured function fails its initialisation (loudly, once) instead of every request."""
    import importlib.util

    monkeypatch.delenv("ENDPOINT_NAME")
    spec = importlib.util.spec_from_file_location("lambda_handler_without_endpoint", HANDLER_FILE)
    with pytest.raises(KeyError, match="ENDPOINT_NAME"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


# --- the model server's errors: only their message line ----------------------------------------------------

TOOLKIT_ANSWER = (
    "data is not an image in an accepted format (JPEG, PNG)\nTraceback (most recent call last):\n"
    '  File "/opt/ml/model/code/model/inference.py", line 102, in wrapper\n'
    "sagemaker_inference.errors.GenericInferenceToolkitError: (415, 'data is not an image', 'Unsupported')\n"
)
TORCHSERVE_BUSY = json.dumps(
    {
        "code": 503,
        "type": "ServiceUnavailableException",
        "message": 'Model "model" has no worker to serve inference request.',
    },
    indent=2,
)


def test_model_message_is_the_first_line_or_torchserves_message(handler):
    assert handler.model_message(TOOLKIT_ANSWER) == "data is not an image in an accepted format (JPEG, PNG)"
    assert handler.model_message(TORCHSERVE_BUSY) == 'Model "model" has no worker to serve inference request.'
    assert handler.model_message("[" * 100_000) == "[" * 100_000


@pytest.mark.parametrize(
    "original_status, original, status, expected",
    [
        (415, TOOLKIT_ANSWER, 415, "data is not an image in an accepted format (JPEG, PNG)"),
        (503, TORCHSERVE_BUSY, 503, 'the model failed (503): Model "model" has no worker to serve inference request.'),
        (500, "boom\nTraceback (most recent call last):\n  File x", 502, "the model failed (500): boom"),
    ],
)
def test_model_errors_answer_their_message_line_only(handler, original_status, original, status, expected):
    # SageMaker runtime's ModelError, stubbed with botocore's Stubber: only a real endpoint raises it (the
    # 4xx path through a local endpoint is in test_lambda_e2e.py).
    from botocore.stub import Stubber

    with Stubber(handler.runtime_for(*handler.endpoint_timeouts(CONTEXT))) as stub:  # the client this call uses
        stub.add_client_error(
            "invoke_endpoint",
            "ModelError",
            "Received an error from primary",
            424,
            modeled_fields={"OriginalStatusCode": original_status, "OriginalMessage": original},
        )
        response = handler.lambda_handler({"url": URL}, CONTEXT)
    assert response["statusCode"] == status
    assert body_of(response) == {"error": expected}
    assert "Traceback" not in response["body"]
