"""SageMaker's List* paging as the local AWS answers it where moto does not: sorted by SortBy and SortOrder, cut
to MaxResults pages with a NextToken, and ListModels' filters (moto's ListModels returns every model, whatever the
request asks, so a caller filtering by NameContains would act on models that are not its own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse
from mlops_cli.local.moto_compat.records import sagemaker as records

DEFAULT_MAX_RESULTS = 10


def epoch(value: Any) -> float:
    """A moto time (datetime or number) as the JSON protocols carry it: seconds since the epoch."""
    return value.timestamp() if hasattr(value, "timestamp") else float(value or 0)


def sorted_page(
    items: list[dict[str, Any]],
    params: dict[str, Any],
    sort_keys: dict[str, Callable[[dict[str, Any]], Any]],
    default_sort: str,
    default_order: str,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `items` sorted as the request asks; returns (page, NextToken or None). Times become epochs."""
    sort_by = params.get("SortBy") or default_sort
    descending = (params.get("SortOrder") or default_order) == "Descending"
    ordered = sorted(items, key=sort_keys[sort_by], reverse=descending)
    start = int(params["NextToken"]) if str(params.get("NextToken") or "").isdigit() else 0
    size = int(params.get("MaxResults") or DEFAULT_MAX_RESULTS)
    page = [
        {key: epoch(value) if key.endswith("Time") else value for key, value in item.items()}
        for item in ordered[start : start + size]
    ]
    return page, str(start + size) if start + size < len(ordered) else None


def list_models(request: LocalRequest, forward: Forward) -> LocalResponse:
    params = request.json()
    models = records.model_summaries(request.account, request.region)
    contains = params.get("NameContains") or ""  # matched as moto matches it in the List* calls it filters
    before, after = params.get("CreationTimeBefore"), params.get("CreationTimeAfter")
    models = [
        model
        for model in models
        if contains in model["ModelName"]
        and (before is None or epoch(model["CreationTime"]) < float(before))
        and (after is None or epoch(model["CreationTime"]) > float(after))
    ]
    keys = {"Name": lambda m: m["ModelName"], "CreationTime": lambda m: epoch(m["CreationTime"])}
    page, token = sorted_page(models, params, keys, default_sort="CreationTime", default_order="Descending")
    return LocalResponse.json({"Models": page, **({"NextToken": token} if token else {})})
