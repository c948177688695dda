"""The SageMaker serving handlers on real photos, batches, trained digits and bad inputs.

Models: a random-init resnet18 model dir (contract and shape tests) and the session's model trained on the
digits sample by the engine (correctness; tests/conftest.py). URLs are served by a real HTTP server on loopback that the
handlers' fetch policy is told to treat as a public host.
"""

from __future__ import annotations

import base64
import dataclasses
import http.server
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mlops_cli.services.sample_data import class_folder
from model import inference
from model.artifact import save_model_dir
from model.data import eval_transform
from model.images import MAX_ENCODED_BYTES, MAX_IMAGE_PIXELS, decode_image
from model.inference import (
    MAX_BATCH_SIZE,
    InferenceInputError,
    input_fn,
    model_fn,
    output_fn,
    predict_fn,
)
from model.network import build_model
from model.safe_fetch import DEFAULT_POLICY, UnsafeURLError, is_public_address

DIGITS = [class_folder(index) for index in range(10)]
DIGIT_LABELS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
STAND_IN_PUBLIC = "127.0.0.2"  # the loopback address the test fetch policy treats as a public image host


def encode(image: Image.Image | np.ndarray, image_format: str, **options) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def _photos() -> dict[str, np.ndarray]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    sample = load_sample_images()
    photos = {Path(name).stem: image for name, image in zip(sample.filenames, sample.images, strict=True)}
    photos.update(astronaut=data.astronaut(), coffee=data.coffee(), camera=data.camera())  # camera: grayscale
    return photos


PHOTOS = _photos()


def handle(model, body, content_type, accept="application/json"):
    """What a model server does with one request: the four handlers in order."""
    body_text, response_type = output_fn(predict_fn(input_fn(body, content_type), model), accept)
    assert response_type == "application/json"
    return json.loads(body_text)


@pytest.fixture(scope="module")
def random_model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    network = build_model("resnet18", len(DIGITS), pretrained=False, freeze_backbone=False, hidden_units=0)
    model_dir = tmp_path_factory.mktemp("random-model")
    save_model_dir(model_dir, network, arch="resnet18", class_names=DIGITS, image_size=64, hidden_units=0)
    return model_dir


@pytest.fixture(scope="module")
def model(random_model_dir):
    return model_fn(str(random_model_dir))


# --- model_fn ---------------------------------------------------------------------------------------------


def test_model_fn_loads_once_in_eval_mode_with_display_labels(model):
    assert model.network.training is False
    assert all(not module.training for module in model.network.modules())
    assert model.labels == tuple(DIGIT_LABELS)
    assert model.image_size == 64


def test_model_fn_shares_the_cores_among_model_server_workers(random_model_dir, monkeypatch):
    from model.distributed import available_cores

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores, threads = available_cores(), torch.get_num_threads()
    try:
        for workers, expected in ((1, cores), (cores, 1)):  # TorchServe's default is one worker per core
            monkeypatch.setenv("SAGEMAKER_MODEL_SERVER_WORKERS", str(workers))
            model_fn(str(random_model_dir))
            assert torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(threads)


def test_display_label_strips_only_the_ordering_prefix():
    assert inference.display_label("001.Affenpinscher") == "Affenpinscher"
    assert inference.display_label("133.Yorkshire_terrier") == "Yorkshire_terrier"
    assert inference.display_label("cat") == "cat"
    assert inference.display_label("1.5mm.screw") == "5mm.screw"


def test_inference_runs_under_inference_mode(model):
    seen = []
    hook = model.network.register_forward_hook(lambda *args: seen.append(torch.is_inference_mode_enabled()))
    try:
        handle(model, encode(PHOTOS["china"], "JPEG"), "image/jpeg")
    finally:
        hook.remove()
    assert seen == [True]


# --- real photos --------------------------------------------------------------------------------------------


def assert_top_k(prediction: dict, k: int) -> None:
    ranked = prediction["top_k"]
    assert len(ranked) == k
    assert [set(entry) for entry in ranked] == [{"label", "index", "probability"}] * k
    assert all(entry["label"] == DIGIT_LABELS[entry["index"]] for entry in ranked)
    probabilities = [entry["probability"] for entry in ranked]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probabilities) and sum(probabilities) <= 1.0 + 1e-5
    assert len({entry["index"] for entry in ranked}) == k


PHOTO_BODIES = [(name, "JPEG", "image/jpeg") for name in sorted(PHOTOS)] + [
    ("china", "PNG", "image/png"),
    ("camera", "PNG", "image/png"),
    ("flower", "JPEG", "application/x-image"),
    ("coffee", "WEBP", "application/x-image"),
    ("astronaut", "BMP", "application/x-image"),
    ("china", "MPO", "image/jpeg"),  # the JPEG variant many cameras write
]


@pytest.mark.parametrize("name, image_format, content_type", PHOTO_BODIES)
def test_photos_as_raw_bodies(model, name, image_format, content_type):
    body = encode(PHOTOS[name], image_format)
    response = handle(model, body, content_type)
    assert list(response) == ["predictions"] and len(response["predictions"]) == 1
    assert list(response["predictions"][0]) == ["top_k"]
    assert_top_k(response["predictions"][0], inference.DEFAULT_TOP_K)
    # The handler's numbers are the model's own: the eval transform of the image (a JPEG decoded at reduced scale
    # down to 2x the eval resize, as the handler decodes it), one forward pass.
    image = decode_image(body, draft_short_side=model.draft_short_side)
    with torch.inference_mode():
        expected = torch.softmax(model.network(eval_transform(64)(image).unsqueeze(0)), dim=1)[0]
    top = response["predictions"][0]["top_k"][0]
    assert top["probability"] == pytest.approx(expected.max().item(), abs=1e-5)


def test_content_type_parameters_and_case_are_ignored(model):
    body = encode(PHOTOS["flower"], "JPEG")
    assert handle(model, body, "Image/JPEG; charset=binary") == handle(model, body, "image/jpeg")
    assert handle(model, bytearray(body), "image/jpeg") == handle(model, body, "image/jpeg")


def test_json_batch_with_per_image_options(model):
    bodies = [encode(PHOTOS["china"], "JPEG"), encode(PHOTOS["flower"], "PNG"), encode(PHOTOS["camera"], "JPEG")]
    request = [
        {"image_b64": base64.b64encode(bodies[0]).decode()},
        {"image_b64": base64.b64encode(bodies[1]).decode(), "top_k": 2, "logits": True},
        {"image_b64": base64.encodebytes(bodies[2]).decode(), "top_k": 100},  # line-wrapped base64; k > classes
    ]
    response = handle(model, json.dumps(request), "application/json")
    first, second, third = response["predictions"]
    assert_top_k(first, 5)
    assert_top_k(second, 2)
    assert_top_k(third, 10)
    assert "logits" not in first and len(second["logits"]) == 10
    probabilities = torch.softmax(torch.tensor(second["logits"]), dim=0)
    assert second["top_k"][0]["index"] == int(probabilities.argmax())
    assert second["top_k"][0]["probability"] == pytest.approx(float(probabilities.max()), abs=1e-5)
    # Batching does not change an image's answer.
    for body, prediction in zip(bodies, (first, second, third), strict=True):
        single = handle(model, body, "image/jpeg")["predictions"][0]["top_k"]
        assert [entry["index"] for entry in single[:2]] == [entry["index"] for entry in prediction["top_k"][:2]]
        assert single[0]["probability"] == pytest.approx(prediction["top_k"][0]["probability"], abs=1e-4)


def test_single_json_object_and_bytes_body(model):
    body = encode(PHOTOS["coffee"], "JPEG")
    document = {"image_b64": base64.b64encode(body).decode(), "top_k": 3}
    from_str = handle(model, json.dumps(document), "application/json")
    from_bytes = handle(model, json.dumps(document).encode(), "application/json; charset=utf-8")
    assert from_str == from_bytes
    assert_top_k(from_str["predictions"][0], 3)
    assert from_str["predictions"][0]["top_k"] == handle(model, body, "image/jpeg")["predictions"][0]["top_k"][:3]


def test_large_jpegs_are_decoded_at_reduced_scale_with_a_negligible_change_of_the_input(model):
    photo = Image.fromarray(PHOTOS["astronaut"]).resize((2048, 2048), Image.LANCZOS)
    body = encode(photo, "JPEG", quality=90)
    drafted = decode_image(body, draft_short_side=model.draft_short_side)
    assert drafted.size == (256, 256)  # 1/8 scale: still 2x the 73 px the eval transform resizes to
    transform = eval_transform(64)
    full = transform(Image.open(io.BytesIO(body)).convert("RGB"))
    # Mean change below 0.01 (under a grey level after normalisation; 0.005 here); decoding at 1x, not 2x,
    # the eval resize changed it by up to 0.13 on the sample photos (the DCT's box filter aliases fine texture).
    assert (transform(drafted) - full).abs().mean() < 0.01
    assert torch.equal(inference._preprocess(body, model), transform(drafted))


# --- URLs ---------------------------------------------------------------------------------------------------


class PhotoHost(http.server.BaseHTTPRequestHandler):
    photo = encode(PHOTOS["china"], "JPEG")

    def do_GET(self):  # noqa: N802
        if self.path == "/china.jpg":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.photo)))
            self.end_headers()
            self.wfile.write(self.photo)
        else:
            self.send_response(302)
            self.send_header(
                "Location",
                {"/to-metadata": "http://169.254.169.254/latest/meta-data/", "/to-private": "http://10.0.0.1/"}.get(
                    self.path, "/china.jpg"
                ),
            )
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def photo_host():
    server = http.server.ThreadingHTTPServer((STAND_IN_PUBLIC, 0), PhotoHost)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{STAND_IN_PUBLIC}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stand_in_policy(monkeypatch, photo_host):
    connections = []

    def connect(address, timeout):
        connections.append(address)
        assert address[0] == STAND_IN_PUBLIC, f"tests must not connect to {address[0]}"
        return socket.create_connection(address, timeout=timeout)

    policy = dataclasses.replace(
        DEFAULT_POLICY,
        allowed_ports=None,
        connect=connect,
        is_allowed_address=lambda ip: str(ip) == STAND_IN_PUBLIC or is_public_address(ip),
    )
    monkeypatch.setattr(inference, "fetch_policy", policy)
    return connections


def test_urls_are_fetched_and_classified_like_uploaded_bytes(model, photo_host, stand_in_policy):
    request = [
        {"url": f"{photo_host}/china.jpg"},
        {"url": f"{photo_host}/redirect-to-photo"},
        {"image_b64": base64.b64encode(PhotoHost.photo).decode()},
    ]
    by_url, by_redirect, by_bytes = handle(model, json.dumps(request), "application/json")["predictions"]
    assert by_url == by_bytes == by_redirect
    assert len(stand_in_policy) == 3


# --- correctness on the digits ------------------------------------------------------------------------------


def test_trained_digits_model_classifies_test_pngs_through_the_handlers(trained_model, digits_dir):
    metrics = trained_model.metrics  # the session's engine run (tests/conftest.py)
    served = model_fn(str(trained_model.model_dir))
    correct = total = 0
    for class_index, class_name in enumerate(DIGITS):
        paths = sorted((digits_dir / "test" / class_name).glob("*.png"))
        response = handle(
            served,
            json.dumps([{"image_b64": base64.b64encode(path.read_bytes()).decode(), "top_k": 1} for path in paths]),
            "application/json",
        )
        for prediction in response["predictions"]:
            top = prediction["top_k"][0]
            assert top["label"] == DIGIT_LABELS[top["index"]]
            correct += top["index"] == class_index
            total += 1
    assert total == metrics["test_samples"] == 179
    # Same preprocessing as the engine's evaluation, so the same accuracy (to one image for float ties).
    assert abs(correct / total - metrics["test_acc"]) <= 1 / total
    assert correct / total >= 0.9


def test_photo_sized_jpegs_of_the_test_set_get_the_top_1_of_a_full_decode(trained_model, digits_dir):
    """Reduced-scale JPEG decoding (JPEG_DRAFT_FACTOR) changes no answer: every digit of the held test set,
    enlarged to a 1 MP photo-quality JPEG, gets the same top-1 as the same JPEG decoded at full size."""
    served = model_fn(str(trained_model.model_dir))
    full_size = dataclasses.replace(served, draft_short_side=0)
    paths = sorted((digits_dir / "test").glob("*/*.png"))
    bodies = [
        encode(Image.open(path).convert("RGB").resize((1024, 1024), Image.BICUBIC), "JPEG", quality=90)
        for path in paths
    ]
    assert decode_image(bodies[0], draft_short_side=served.draft_short_side).size == (128, 128)  # 1/8 scale
    drafted = [top["index"] for top in _top_1(served, bodies)]
    assert len(drafted) == 179 and drafted == [top["index"] for top in _top_1(full_size, bodies)]


def _top_1(served, bodies: list[bytes]) -> list[dict]:
    answers = []
    for start in range(0, len(bodies), MAX_BATCH_SIZE):
        batch = [{"image_b64": base64.b64encode(body).decode(), "top_k": 1} for body in bodies[start:][:MAX_BATCH_SIZE]]
        response = handle(served, json.dumps(batch), "application/json")
        answers += [prediction["top_k"][0] for prediction in response["predictions"]]
    return answers


# --- bad inputs ---------------------------------------------------------------------------------------------


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's signature)."""
    png = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = png[12:29]  # chunk type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(png)


def _corrupted(data: bytes, at: int) -> bytes:
    return data[:at] + bytes(byte ^ 0xFF for byte in data[at : at + 64]) + data[at + 64 :]


def _jpeg() -> bytes:
    return encode(PHOTOS["china"], "JPEG")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


BAD_INPUTS = {
    # id: (body, content type, status, message fragment)
    "garbage bytes": (bytes(range(256)) * 8, "image/jpeg", 415, "not an image in an accepted format"),
    "truncated jpeg": (_jpeg()[:20_000], "image/jpeg", 400, "truncated"),
    "truncated png": (encode(PHOTOS["flower"], "PNG")[:30_000], "image/png", 400, "truncated"),
    "corrupt png data": (_corrupted(encode(PHOTOS["flower"], "PNG"), at=5000), "image/png", 400, "corrupt"),
    "huge declared dimensions": (_png_declaring(100_000, 100_000), "image/png", 413, "too large"),
    "decompression bomb": (encode(Image.new("1", (8000, 8000)), "PNG", optimize=True), "image/png", 413, "too large"),
    "unsupported format tiff": (encode(PHOTOS["coffee"], "TIFF"), "image/png", 415, "accepted format"),
    "oversized body": (b"\xff\xd8" + bytes(MAX_ENCODED_BYTES), "image/jpeg", 413, "the limit is"),
    "empty body": (b"", "image/jpeg", 400, "empty"),
    "wrong content type": (_jpeg(), "text/plain", 415, "content type 'text/plain' is not supported"),
    "no content type": (_jpeg(), None, 415, "'(none)' is not supported"),
    "empty json body": ("  ", "application/json", 400, "empty"),
    "bad json": ('{"url": ', "application/json", 400, "not valid JSON"),
    "deeply nested json": ("[" * 100_000 + "]" * 100_000, "application/json", 400, "not valid JSON"),
    "non-utf8 json": (b'{"url": "\xff"}', "application/json", 400, "not valid JSON"),
    "json string": ('"http://example.com/a.jpg"', "application/json", 400, "must be a JSON object"),
    "empty batch": ("[]", "application/json", 400, "no images"),
    "oversized batch": (
        json.dumps([{"image_b64": "AAAA"}] * (MAX_BATCH_SIZE + 1)),
        "application/json",
        413,
        "at most 32",
    ),
    "bad base64": ('{"image_b64": "not*base64!"}', "application/json", 400, "not valid base64"),
    "empty base64": ('{"image_b64": ""}', "application/json", 400, "empty"),
    "base64 of garbage": (json.dumps({"image_b64": _b64(b"hello world")}), "application/json", 415, "not an image"),
    "base64 not a string": ('{"image_b64": 12}', "application/json", 400, "must be a base64 string"),
    "url and image_b64": (
        json.dumps({"url": "http://a.example/", "image_b64": "AAAA"}),
        "application/json",
        400,
        "exactly one",
    ),
    "neither url nor image": ('{"top_k": 3}', "application/json", 400, "exactly one"),
    "unknown field": ('{"image_b64": "AAAA", "topk": 3}', "application/json", 400, "unknown field 'topk'"),
    "top_k zero": (json.dumps({"image_b64": "AAAA", "top_k": 0}), "application/json", 400, "top_k"),
    "top_k string": (json.dumps({"image_b64": "AAAA", "top_k": "5"}), "application/json", 400, "top_k"),
    "top_k bool": (json.dumps({"image_b64": "AAAA", "top_k": True}), "application/json", 400, "top_k"),
    "top_k too big": (json.dumps({"image_b64": "AAAA", "top_k": 101}), "application/json", 400, "top_k"),
    "logits not bool": (json.dumps({"image_b64": "AAAA", "logits": "yes"}), "application/json", 400, "logits"),
    "url not a string": ('{"url": ["http://a.example/"]}', "application/json", 400, "must be a string"),
    "bad item in a batch": (
        json.dumps([{"image_b64": _b64(_jpeg())}, {"image_b64": "%%%"}]),
        "application/json",
        400,
        'item 1: "image_b64" is not valid base64',
    ),
    "bad image in a batch": (
        json.dumps([{"image_b64": _b64(_jpeg())}, {"image_b64": _b64(_jpeg()[:9000])}]),
        "application/json",
        400,
        "item 1: image data is corrupt or truncated",
    ),
}

SSRF_URLS = {
    "file scheme": ("file:///etc/passwd", "scheme file:"),
    "gopher scheme": ("gopher://127.0.0.1:6379/_INFO", "scheme gopher:"),
    "credentials": ("http://user:pass@images.example/a.jpg", "credentials"),
    "loopback": ("http://127.0.0.1/", "127.0.0.1 is not a public address"),
    "metadata service": ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is not a public address"),
    "private": ("http://10.0.0.1/a.jpg", "10.0.0.1 is not a public address"),
    "shared cgnat": ("http://100.100.100.200/", "is not a public address"),
    "decimal loopback": ("http://2130706433/", "(= 127.0.0.1)"),
    "hex loopback": ("http://0x7f.1/", "(= 127.0.0.1)"),
    "octal loopback": ("http://0177.0.0.1/", "(= 127.0.0.1)"),
    "hex metadata": ("http://0xa9fea9fe/", "(= 169.254.169.254)"),
    "ipv6 loopback": ("http://[::1]/", "::1 is not a public address"),
    "ipv6 unique local": ("http://[fd00::1]/", "is not a public address"),
    "ipv6 link local": ("http://[fe80::1]/", "is not a public address"),
    "ipv4-mapped loopback": ("http://[::ffff:127.0.0.1]/", "is not a public address"),
    "nat64 metadata": ("http://[64:ff9b::a9fe:a9fe]/", "is not a public address"),
    "6to4 private": ("http://[2002:0a00:0001::]/", "is not a public address"),
    "non-standard port": ("http://8.8.8.8:6379/", "port 6379 is not allowed"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_inputs_are_clear_client_errors(model, case):
    body, content_type, status, message = BAD_INPUTS[case]
    with pytest.raises(InferenceInputError) as raised:
        handle(model, body, content_type)
    assert raised.value.status == status
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("case", SSRF_URLS, ids=list(SSRF_URLS))
def test_ssrf_urls_are_refused(model, case):
    url, message = SSRF_URLS[case]
    for document in ({"url": url}, [{"image_b64": _b64(_jpeg())}, {"url": url}]):
        with pytest.raises(UnsafeURLError) as raised:
            handle(model, json.dumps(document), "application/json")
        assert raised.value.status == 400
        assert message in str(raised.value)
        assert str(raised.value).startswith("item 1: ") == isinstance(document, list)


@pytest.mark.parametrize(
    "path, message",
    [("/to-metadata", "169.254.169.254 is not a public address"), ("/to-private", "10.0.0.1 is not a public address")],
)
def test_redirects_to_private_addresses_are_refused(model, photo_host, stand_in_policy, path, message):
    with pytest.raises(UnsafeURLError, match=message):
        handle(model, json.dumps({"url": photo_host + path}), "application/json")
    assert stand_in_policy == [(STAND_IN_PUBLIC, int(photo_host.rsplit(":", 1)[1]))]


def test_unacceptable_accept_header(model):
    with pytest.raises(InferenceInputError, match="responses are application/json") as raised:
        handle(model, _jpeg(), "image/jpeg", accept="text/csv")
    assert raised.value.status == 406
    for accept in (None, "", "*/*", "application/json", "text/html, application/*;q=0.8"):
        assert handle(model, _jpeg(), "image/jpeg", accept=accept)["predictions"]


def test_limits_are_sane():
    assert MAX_IMAGE_PIXELS < Image.MAX_IMAGE_PIXELS * 2 and Image.MAX_IMAGE_PIXELS == MAX_IMAGE_PIXELS
    assert 6000 * 6000 <= MAX_IMAGE_PIXELS


# --- inside the SageMaker inference toolkit -----------------------------------------------------------------

TOOLKIT_SCRIPT = r"""
import base64, json, sys
import model
from sagemaker_inference.transformer import Transformer

assert model.__file__.startswith(sys.argv[2]), model.__file__  # the package copy inside code/

class RequestProcessor:
    def __init__(self, headers):
        self.headers = headers
    def get_request_properties(self):
        return self.headers

class Context:  # what TorchServe / MMS hands the toolkit for one request
    def __init__(self, model_dir, headers):
        self.system_properties = {"model_dir": model_dir}
        self.request_processor = [RequestProcessor(headers)]
        self.status, self.content_type = 200, None
    def set_response_status(self, code, phrase):
        self.status = code
    def set_response_content_type(self, index, content_type):
        self.content_type = content_type

transformer = Transformer()
for body, headers in json.load(sys.stdin):
    context = Context(sys.argv[1], headers)
    response = transformer.transform([{"body": base64.b64decode(body)}], context)[0]
    print(json.dumps([context.status, context.content_type, str(response).splitlines()[0]]))
"""


@pytest.mark.integration  # a real subprocess server: make test only
def test_handlers_answer_4xx_inside_the_sagemaker_inference_toolkit(random_model_dir):
    pytest.importorskip("sagemaker_inference")
    code_dir = random_model_dir / "code"
    requests = [
        (_b64(_jpeg()), {"Content-Type": "image/jpeg", "Accept": "*/*"}),
        (_b64(json.dumps({"image_b64": _b64(_jpeg()), "top_k": 2}).encode()), {"content-type": "application/json"}),
        (_b64(b"not an image"), {"Content-Type": "image/png"}),
        (_b64(json.dumps({"url": "http://169.254.169.254/"}).encode()), {"Content-Type": "application/json"}),
        (_b64(b"x"), {"Content-Type": "text/csv"}),
    ]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(SAGEMAKER_PROGRAM="inference.py")
    result = subprocess.run(
        [sys.executable, "-c", TOOLKIT_SCRIPT, str(random_model_dir), str(code_dir)],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        cwd=code_dir,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [status for status, _type, _body in answers] == [200, 200, 415, 400, 415]
    assert answers[0][1] == answers[1][1] == "application/json"
    assert len(json.loads(answers[1][2])["predictions"][0]["top_k"]) == 2
    assert "not an image in an accepted format" in answers[2][2]
    assert "169.254.169.254 is not a public address" in answers[3][2]
