"""SageMaker PyTorch serving handlers: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``.

Requests (``content_type``):

- ``image/jpeg``, ``image/png``, ``application/x-image``: the body is one encoded image (JPEG, PNG, BMP,
  GIF or WebP, recognised from the bytes).
- ``application/json``: one object, or a list of up to ``MAX_BATCH_SIZE`` objects (a batch), each with exactly
  one of ``"url"`` (http/https, fetched under the SSRF rules of :mod:`model.safe_fetch`) or ``"image_b64"``
  (base64 of the encoded image), and optionally ``"top_k"`` (1-100, default 5, capped at the number of
  classes) and ``"logits": true`` (add the raw logits). Unknown fields are refused.

Response (``application/json``), one entry per image in request order::

    {"predictions": [
        {"top_k": [{"label": "zero", "index": 0, "probability": 0.981234}, ...],   # most probable first
         "logits": [3.1, -0.2, ...]},                                               # only with "logits": true
        ...
    ]}

``label`` is the training class folder name without its ``NNN.`` prefix, ``index`` the class index,
``probability`` the softmax probability rounded to 6 decimals.

Every bad request raises :class:`InferenceInputError` (``status`` 400, 406, 413 or 415) with a one-line
message; model servers answer it as a 4xx. Inside the SageMaker inference toolkit, which answers 500 to any
exception but its own, the handlers re-raise it as the toolkit's error type with the same status.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus

import torch

from model.artifact import load_model_dir
from model.data import EVAL_RESIZE_RATIO, eval_transform
from model.distributed import threads_per_process
from model.images import MAX_ENCODED_BYTES, decode_image
from model.safe_fetch import DEFAULT_POLICY, FetchPolicy, InferenceInputError, fetch

__all__ = ["InferenceInputError", "model_fn", "input_fn", "predict_fn", "output_fn"]

IMAGE_CONTENT_TYPES = ("image/jpeg", "image/png", "application/x-image")
JSON_CONTENT_TYPE = "application/json"
MAX_BATCH_SIZE = 32
MAX_JSON_BYTES = 64 * 1024 * 1024
DEFAULT_TOP_K = 5
MAX_TOP_K = 100
REQUEST_FIELDS = ("url", "image_b64", "top_k", "logits")
# URLs of one batch are fetched concurrently, so a batch takes about as long as its slowest URL.
MAX_PARALLEL_FETCHES = 16
# JPEGs are decoded at reduced scale (see decode_image) down to 2x the eval resize: a 1 MP photo for a 32 or
# 64 px model decodes at 1/8 scale, in a third of the time of 1/4. Measured on the sample photos enlarged to
# 1-3 MP, the model input then differs from a full-size decode by a mean of at most 0.026 (after normalisation,
# 4x: 0.023); below 2x the DCT's box filter aliases fine texture (up to 0.13 on a cat's fur). Top-1 on the
# digits test set, sent as 1 MP JPEGs, is the same as with a full decode (tests/model/test_inference.py).
JPEG_DRAFT_FACTOR = 2
# Worker processes of the SageMaker model server (TorchServe): set it in the model's environment.
MODEL_SERVER_WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
# The fetch policy the handlers use; tests and local servers may replace it (e.g. with a test resolver).
fetch_policy: FetchPolicy = DEFAULT_POLICY


@dataclass(frozen=True)
class ImageRequest:
    """One image of a request: its encoded bytes and what to answer about it."""

    data: bytes
    top_k: int = DEFAULT_TOP_K
    logits: bool = False


@dataclass(frozen=True)
class LoadedModel:
    """What ``model_fn`` returns and ``predict_fn`` receives."""

    network: torch.nn.Module
    labels: tuple[str, ...]
    image_size: int
    device: torch.device
    transform: Callable
    draft_short_side: int


def _serving_errors(handler):
    """Let the SageMaker inference toolkit answer our client errors with their status, not 500.

    The toolkit (already loaded in its container, never imported here) maps only its own error type to a
    status; anywhere else (local model server, Lambda, tests) the error passes through unchanged.
    """

    @functools.wraps(handler)
    def wrapper(*args):
        try:
            return handler(*args)
        except InferenceInputError as error:
            toolkit_errors = sys.modules.get("sagemaker_inference.errors")
            if toolkit_errors is None:
                raise
            raise toolkit_errors.GenericInferenceToolkitError(
                error.status, str(error), HTTPStatus(error.status).phrase
            ) from error

    return wrapper


def display_label(class_name: str) -> str:
    """``"001.zero"`` -> ``"zero"``: the training folder name without its ordering prefix."""
    return re.sub(r"^\d+\.", "", class_name)


def model_fn(model_dir: str) -> LoadedModel:
    """Load the model directory written by ``model.artifact.save_model_dir`` (once per server process)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    workers = os.environ.get(MODEL_SERVER_WORKERS_ENV, "")
    if device.type == "cpu" and workers.isdigit() and int(workers) > 0:
        # Each model-server worker is a process with its own torch thread pool; pools that together
        # oversubscribe the cores are several times slower, so the cores are shared out.
        torch.set_num_threads(threads_per_process(int(workers)))
    network, meta = load_model_dir(model_dir, map_location=device)
    image_size = int(meta["image_size"])
    loaded = LoadedModel(
        network=network,
        labels=tuple(display_label(name) for name in meta["class_names"]),
        image_size=image_size,
        device=device,
        transform=eval_transform(image_size),
        draft_short_side=JPEG_DRAFT_FACTOR * round(image_size * EVAL_RESIZE_RATIO),
    )
    # The first forward pass builds kernels and caches; pay it here, not on the first request.
    with torch.inference_mode():
        network(torch.zeros(1, 3, image_size, image_size, device=device))
    return loaded


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _as_bytes(body: object) -> bytes:
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):  # the toolkit hands JSON bodies over decoded
        return body.encode("utf-8")
    raise InferenceInputError(f"request body of type {type(body).__name__} is not supported", status=400)


@_serving_errors
def input_fn(body: bytes | str, content_type: str | None) -> list[ImageRequest]:
    """Parse a request into one :class:`ImageRequest` per image (URLs are fetched here)."""
    media_type = _media_type(content_type)
    if media_type in IMAGE_CONTENT_TYPES:
        data = _as_bytes(body)
        if not data:
            raise InferenceInputError("request body is empty", status=400)
        return [ImageRequest(data)]
    if media_type != JSON_CONTENT_TYPE:
        accepted = ", ".join(IMAGE_CONTENT_TYPES + (JSON_CONTENT_TYPE,))
        raise InferenceInputError(
            f"content type {content_type or '(none)'!r} is not supported; use one of {accepted}", status=415
        )
    return _parse_json_request(_as_bytes(body))


def _parse_json_request(body: bytes) -> list[ImageRequest]:
    if not body.strip():
        raise InferenceInputError("request body is empty", status=400)
    if len(body) > MAX_JSON_BYTES:
        raise InferenceInputError(f"JSON body is larger than {MAX_JSON_BYTES} bytes", status=413)
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InferenceInputError(f"request body is not valid JSON: {error}", status=400) from None
    batch = isinstance(document, list)
    items = document if batch else [document]
    if not items:
        raise InferenceInputError("request has no images (empty list)", status=400)
    if len(items) > MAX_BATCH_SIZE:
        raise InferenceInputError(f"batch has {len(items)} images; at most {MAX_BATCH_SIZE} per request", status=413)
    parsed = [_with_item_context(_parse_item, item, index=index, batch=batch) for index, item in enumerate(items)]
    urls = [(index, url) for index, (url, _request) in enumerate(parsed) if url is not None]
    fetched: dict[int, bytes] = {}
    if urls:
        with ThreadPoolExecutor(max_workers=min(len(urls), MAX_PARALLEL_FETCHES)) as pool:
            futures = {index: pool.submit(fetch, url, fetch_policy) for index, url in urls}
            for index, future in futures.items():  # request order: the first failing item is reported
                fetched[index] = _with_item_context(future.result, index=index, batch=batch)
    return [
        ImageRequest(fetched[index], request.top_k, request.logits) if url is not None else request
        for index, (url, request) in enumerate(parsed)
    ]


def _with_item_context(function, *args, index: int, batch: bool):
    """Call ``function``; in a batch, prefix a client error's message with the item it is about."""
    try:
        return function(*args)
    except InferenceInputError as error:
        if not batch:
            raise
        raise type(error)(f"item {index}: {error}", status=error.status) from None


def _parse_item(item: object) -> tuple[str | None, ImageRequest]:
    """(url to fetch or None, request with the decoded ``image_b64`` bytes or a placeholder)."""
    if not isinstance(item, dict):
        raise InferenceInputError(
            'each request must be a JSON object like {"url": ...} or {"image_b64": ...}', status=400
        )
    unknown = sorted(set(item) - set(REQUEST_FIELDS))
    if unknown:
        raise InferenceInputError(f"unknown field {unknown[0]!r}; expected {', '.join(REQUEST_FIELDS)}", status=400)
    if ("url" in item) == ("image_b64" in item):
        raise InferenceInputError('give exactly one of "url" or "image_b64"', status=400)
    top_k = item.get("top_k", DEFAULT_TOP_K)
    if type(top_k) is not int or not 1 <= top_k <= MAX_TOP_K:
        raise InferenceInputError(f'"top_k" must be an integer from 1 to {MAX_TOP_K}', status=400)
    logits = item.get("logits", False)
    if not isinstance(logits, bool):
        raise InferenceInputError('"logits" must be true or false', status=400)
    if "url" in item:
        if not isinstance(item["url"], str):
            raise InferenceInputError('"url" must be a string', status=400)
        return item["url"], ImageRequest(b"", top_k, logits)
    return None, ImageRequest(_decode_base64(item["image_b64"]), top_k, logits)


def _decode_base64(value: object) -> bytes:
    if not isinstance(value, str):
        raise InferenceInputError('"image_b64" must be a base64 string', status=400)
    compact = "".join(value.split())  # tolerate line-wrapped base64 (e.g. from `base64` without -w0)
    if len(compact) > (MAX_ENCODED_BYTES + 2) // 3 * 4:
        raise InferenceInputError(f"image is larger than {MAX_ENCODED_BYTES} bytes", status=413)
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InferenceInputError(f'"image_b64" is not valid base64: {error}', status=400) from None
    if not data:
        raise InferenceInputError('"image_b64" is empty', status=400)
    return data


@_serving_errors
def predict_fn(requests: list[ImageRequest], model: LoadedModel) -> dict:
    """Decode and preprocess each image like validation data, run one batched forward pass, rank classes."""
    batch = len(requests) > 1
    pixels = torch.stack(
        [
            _with_item_context(_preprocess, request.data, model, index=index, batch=batch)
            for index, request in enumerate(requests)
        ]
    ).to(model.device)
    top_k = min(max(request.top_k for request in requests), len(model.labels))
    with torch.inference_mode():
        logits = model.network(pixels).float()
        top_probabilities, top_indices = (values.tolist() for values in logits.softmax(dim=1).topk(top_k, dim=1))
    predictions = []
    for row, request in enumerate(requests):
        count = min(request.top_k, len(model.labels))
        prediction: dict = {
            "top_k": [
                {"label": model.labels[index], "index": index, "probability": round(probability, 6)}
                for probability, index in zip(top_probabilities[row][:count], top_indices[row][:count], strict=True)
            ]
        }
        if request.logits:
            prediction["logits"] = logits[row].tolist()
        predictions.append(prediction)
    return {"predictions": predictions}


def _preprocess(data: bytes, model: LoadedModel) -> torch.Tensor:
    return model.transform(decode_image(data, draft_short_side=model.draft_short_side))


def _accepts_json(accept: str | None) -> bool:
    ranges = [_media_type(part) for part in (accept or "").split(",")]
    return any(media in ("", "*/*", "application/*", JSON_CONTENT_TYPE) for media in ranges)


@_serving_errors
def output_fn(prediction: dict, accept: str | None) -> tuple[str, str]:
    """Serialise the prediction as JSON; returns (body, content type) as the SageMaker toolkits accept."""
    if not _accepts_json(accept):
        raise InferenceInputError(f"cannot answer in {accept!r}; responses are {JSON_CONTENT_TYPE}", status=406)
    return json.dumps(prediction, separators=(",", ":")), JSON_CONTENT_TYPE
