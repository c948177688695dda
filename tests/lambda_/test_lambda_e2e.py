"""End to end in the local AWS: a trained model behind `mlops deploy`, the function from `mlops lambda deploy`,
and `mlops lambda invoke` on digits test images returning the right labels through the endpoint."""

from __future__ import annotations

import base64
import json

import pytest
from lambda_helpers import http_v2, rest_v1

from tests.helpers import SERVED_ENDPOINT

PROJECT = "le2e"
ENV = {"MLOPS_PROJECT": PROJECT, "MLOPS_DEPLOY__ENDPOINT_NAME": SERVED_ENDPOINT}  # the session's served model
FUNCTION = f"{PROJECT}-invoke"


def label_of(folder: str) -> str:
    return folder.split(".", 1)[1]  # "008.seven" -> "seven"


@pytest.fixture(scope="module")
def samples(trained_model, digits_dir) -> dict[str, bytes]:
    """One test image per class that the model itself (run here, in-process) labels correctly."""
    from model.inference import input_fn, model_fn, output_fn, predict_fn

    model = model_fn(str(trained_model.model_dir))
    chosen = {}
    for folder in sorted((digits_dir / "test").iterdir()):
        for image in sorted(folder.glob("*.png")):
            data = image.read_bytes()
            body, _ = output_fn(predict_fn(input_fn(data, "image/png"), model), "application/json")
            if json.loads(body)["predictions"][0]["top_k"][0]["label"] == label_of(folder.name):
                chosen[label_of(folder.name)] = data
                break
    assert len(chosen) >= 8, f"the model is too weak for this test: {sorted(chosen)}"
    return chosen


def test_lambda_invoke_returns_the_right_labels_through_the_endpoint(mlops, served_model, samples, tmp_path):
    deployed = mlops("-o", "json", "lambda", "deploy", env=ENV)
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(deployed.stdout)["endpoint_status"] == "InService"
    for label, data in samples.items():
        image = tmp_path / f"{label}.png"
        image.write_bytes(data)
        result = mlops("-o", "json", "lambda", "invoke", str(image), "--top-k", "3", env=ENV)
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        assert answer["alias"] == "live" and answer["version"] == "1"
        ranked = answer["predictions"]
        assert len(ranked) == 3 and ranked[0]["label"] == label, (label, ranked)
        assert answer["answer"]["predictions"][0]["top_k"] == ranked  # the function's own answer, whole
        # One shape with `mlops invoke`: the same `source`, `predictions` and `top_k` from the endpoint behind it.
        direct = json.loads(
            mlops("-o", "json", "invoke", "--endpoint", served_model, str(image), "--top-k", "3").stdout
        )
        assert answer["source"] == direct["source"] == str(image)
        assert answer["predictions"] == direct["predictions"] == answer["top_k"] == direct["top_k"]
    table = mlops("lambda", "invoke", str(tmp_path / f"{next(iter(samples))}.png"), env=ENV)
    assert table.exit_code == 0 and "probability" in table.stdout and next(iter(samples)) in table.stdout


def test_every_event_shape_through_the_deployed_function(served_model, samples, boto_client, mlops):
    assert mlops("lambda", "deploy", env=ENV).exit_code == 0
    lam = boto_client("lambda")
    label, data = next(iter(samples.items()))
    encoded = base64.b64encode(data).decode()
    events = {
        "direct": {"image_b64": encoded, "top_k": 2},
        "REST v1 JSON": rest_v1(json.dumps({"image_b64": encoded})),
        "HTTP v2 raw PNG": http_v2(encoded, "image/png", encoded=True),
        "function URL base64 JSON": http_v2(
            base64.b64encode(json.dumps({"image_b64": encoded}).encode()).decode(), encoded=True, function_url=True
        ),
    }
    for name, event in events.items():
        answer = lam.invoke(FunctionName=FUNCTION, Qualifier="live", Payload=json.dumps(event).encode())
        response = json.loads(answer["Payload"].read())
        assert response["statusCode"] == 200, (name, response)
        assert json.loads(response["body"])["predictions"][0]["top_k"][0]["label"] == label, name

    # The model refuses what is not an image: its own 4xx and message come back, nothing of the account.
    answer = lam.invoke(
        FunctionName=FUNCTION,
        Qualifier="live",
        Payload=json.dumps({"image_b64": base64.b64encode(b"not an image").decode()}).encode(),
    )
    response = json.loads(answer["Payload"].read())
    assert response["statusCode"] == 415, response
    error = json.loads(response["body"])["error"]
    assert "not an image" in error and "123456789012" not in error and "https://" not in error
    assert "\n" not in error and "Traceback" not in error  # the toolkit's traceback stays in the endpoint's log
