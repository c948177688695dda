"""`invoke -o json` and `lambda invoke -o json` give one shape for the same model answer: `predictions` (and its
alias `top_k`) is the ranked list of {label, index, probability}; `lambda invoke` keeps the function's own answer
whole under `answer`."""

from __future__ import annotations

import io
import json

from mlops_cli.services.deploy.invoke import InvokeRequest, predictions
from mlops_cli.services.lambda_.function import invocation_result

RANKED = [{"label": "seven", "index": 7, "probability": 0.9}, {"label": "one", "index": 1, "probability": 0.05}]
MODEL_ANSWER = {"predictions": [{"top_k": RANKED}]}  # what the endpoint answers (docs/model.md)


def test_invoke_and_lambda_invoke_give_one_prediction_shape():
    endpoint = predictions(
        "digits-endpoint",
        InvokeRequest("7.png", b"png", "image/png"),
        {"Body": io.BytesIO(json.dumps(MODEL_ANSWER).encode()), "InvokedProductionVariant": "AllTraffic"},
    )
    function_answer = {"statusCode": 200, "body": json.dumps(MODEL_ANSWER)}  # the function relays the endpoint's
    function = invocation_result(
        "digits-fn",
        "live",
        {"Payload": io.BytesIO(json.dumps(function_answer).encode()), "ExecutedVersion": "1"},
        "7.png",
    )
    assert endpoint["predictions"] == function["predictions"] == RANKED
    assert endpoint["top_k"] == function["top_k"] == RANKED
    assert endpoint["source"] == function["source"] == "7.png"
    assert function["answer"] == MODEL_ANSWER
