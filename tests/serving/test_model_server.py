"""The local model server over real HTTP: the SageMaker inference toolkit's own error format, TorchServe's 503 when
it is full, and its size limits. The model is a random-init one (what is served does not matter here; the trained
model's answers are checked through real endpoints in tests/deploy)."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from mlops_cli.local.sagemaker.model_server import MAX_BODY_BYTES, STATUS_FILE

pytestmark = pytest.mark.integration  # starts its own model server process

MAX_CONNECTIONS = 3


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    import torch

    from model.artifact import save_model_dir
    from model.network import build_model

    torch.manual_seed(0)
    network = build_model("resnet18", 3, pretrained=False, freeze_backbone=False, hidden_units=0)
    path = tmp_path_factory.mktemp("random-model")
    save_model_dir(
        path, network, arch="resnet18", class_names=["001.a", "002.b", "003.c"], image_size=32, hidden_units=0
    )
    return path


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory) -> Iterator[int]:
    """A model server process: one worker, at most MAX_CONNECTIONS connections."""
    work_dir = tmp_path_factory.mktemp("model-server")
    env = {**os.environ, "SAGEMAKER_PROGRAM": "inference.py"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_cli.local.sagemaker.model_server",
            "--model-dir",
            str(model_dir),
            "--work-dir",
            str(work_dir),
            "--workers",
            "1",
            "--max-connections",
            str(MAX_CONNECTIONS),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work_dir / "server.log", "wb"),
    )
    status_file = work_dir / STATUS_FILE
    deadline = time.monotonic() + 120
    while not status_file.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status_file.exists(), (work_dir / "server.log").read_text()[-3000:]
    status = json.loads(status_file.read_text())
    assert status["workers"] == 1
    try:
        yield status["port"]
    finally:
        process.terminate()
        process.wait(30)


def post(port: int, body: bytes, content_type: str | None, path: str = "/invocations"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": content_type} if content_type else {}
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    answer = (response.status, response.reason, response.getheader("Content-Type"), response.read())
    connection.close()
    return answer


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_valid_image_gets_predictions(server):
    status, _reason, content_type, body = post(server, jpeg(), "image/jpeg")
    assert status == 200 and content_type == "application/json"
    # the default top 5, capped at the number of classes
    assert {entry["label"] for entry in json.loads(body)["predictions"][0]["top_k"]} == {"a", "b", "c"}


@pytest.mark.parametrize(
    "body, content_type, status, reason, message",
    [
        (
            b"not an image",
            "image/png",
            415,
            "Unsupported Media Type",
            "data is not an image in an accepted format (JPEG, PNG, BMP, GIF, WEBP)",
        ),
        (
            b'{"url": "http://169.254.169.254/latest/meta-data"}',
            "application/json",
            400,
            "Bad Request",
            "address 169.254.169.254 is not a public address; refused",
        ),
        (b"x", "text/csv", 415, "Unsupported Media Type", "content type 'text/csv' is not supported"),
    ],
)
def test_handler_errors_are_the_toolkits_message_newline_traceback(server, body, content_type, status, reason, message):
    answer_status, answer_reason, answer_type, answer = post(server, body, content_type)
    assert (answer_status, answer_reason, answer_type) == (status, reason, None)  # the toolkit sets no type
    first, rest = answer.decode().split("\n", 1)
    assert message in first
    assert rest.startswith("Traceback (most recent call last):")
    assert "GenericInferenceToolkitError" in rest


def test_a_body_the_toolkit_cannot_decode_is_its_500(server):
    # The toolkit decodes JSON bodies as UTF-8 before any handler runs: on SageMaker this is a 500 too.
    status, reason, content_type, body = post(server, b'{"url": "\xff"}', "application/json")
    assert status == 500 and content_type is None
    assert body.decode().startswith("'utf-8' codec can't decode byte 0xff")
    assert reason == body.decode().split("\n", 1)[0]


def test_torchserve_errors_are_its_json(server):
    status, _reason, content_type, body = post(server, b"", "image/png", path="/nowhere")
    assert (status, content_type) == (404, "application/json")
    assert json.loads(body)["type"] == "ResourceNotFoundException"
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=60)
    connection.putrequest("POST", "/invocations")
    connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))  # refused before the body is sent
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and json.loads(response.read())["code"] == 413
    connection.close()


def test_connections_beyond_the_limit_get_503_at_once(server):
    idle = [socket.create_connection(("127.0.0.1", server), timeout=30) for _ in range(MAX_CONNECTIONS)]
    try:
        # Each idle connection holds a handler thread; the next one is answered 503 without being read.
        with socket.create_connection(("127.0.0.1", server), timeout=30) as extra:
            answer = extra.makefile("rb").read()
        head, body = answer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 503 ")
        assert json.loads(body) == {
            "code": 503,
            "type": "ServiceUnavailableException",
            "message": (
                'Model "model" has no worker to serve inference request. Please use scale workers API to add workers.'
            ),
        }
    finally:
        for connection in idle:
            connection.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the handler threads notice the closed connections and end
        if post(server, jpeg(), "image/jpeg")[0] == 200:
            break
    else:
        raise AssertionError("the server did not recover after the idle connections closed")
