"""PyTorch Deep Learning Container image URIs, resolved offline from the committed copy of the SDK's table."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_cli.errors import UsageError
from mlops_cli.services import images


@pytest.mark.parametrize(
    "region, version, py, instance_type, scope, expected",
    [
        (
            "us-east-1",
            "2.6",
            "py312",
            "ml.m5.xlarge",
            "training",
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312",
        ),
        (
            "us-east-1",
            "2.6.0",
            "py312",
            "ml.g5.2xlarge",
            "training",
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-gpu-py312",
        ),
        (
            "eu-west-1",
            "2.5",
            "py311",
            "ml.p4d.24xlarge",
            "inference",
            "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-inference:2.5.1-gpu-py311",
        ),
        (
            "af-south-1",
            "2.6",
            "py312",
            "ml.c5.large",
            "inference",
            "626614931356.dkr.ecr.af-south-1.amazonaws.com/pytorch-inference:2.6.0-cpu-py312",
        ),
        (
            "cn-north-1",
            "2.6",
            "py312",
            "ml.m5.large",
            "training",
            "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-training:2.6.0-cpu-py312",
        ),
    ],
)
def test_image_uri(region, version, py, instance_type, scope, expected):
    assert images.image_uri(region, version, py, instance_type, scope) == expected


def test_major_x_and_latest_pick_the_newest_release_for_that_python():
    table = images.table()
    newest_312 = max(
        (v for v, entry in table["training"]["versions"].items() if "py312" in entry["py_versions"]),
        key=lambda v: tuple(map(int, v.split("."))),
    )
    assert images.resolve_version("training", "2.x", "py312") == newest_312
    assert images.resolve_version("inference", "2.x", "py312") == "2.6.0"
    assert images.resolve_version("training", "latest", "py310") == "2.2.0"
    assert images.image_uri("us-east-1", "2.x", "py312", "ml.m5.large", "inference").endswith(
        "pytorch-inference:2.6.0-cpu-py312"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ("us-east-1", "1.4", "py312", "ml.m5.large", "training"),
            "no PyTorch training image for framework version '1.4'",
        ),
        (("us-east-1", "2.6", "py38", "ml.m5.large", "training"), "built for py312, not py38"),
        (("xx-nowhere-1", "2.6", "py312", "ml.m5.large", "training"), "image is published in region 'xx-nowhere-1'"),
        (("us-east-1", "2.6", "py312", "ml.inf2.xlarge", "inference"), "needs a Neuron image"),
        (("us-east-1", "2.6", "py312", "m5.large", "training"), "not a SageMaker instance type"),
        (("us-east-1", "3.x", "py312", "ml.m5.large", "training"), "no PyTorch training image for version '3.x'"),
        (("us-east-1", "2.6", "py312", "ml.m5.large", "serving"), "image scope must be one of"),
    ],
)
def test_bad_lookups_are_usage_errors(args, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        images.image_uri(*args)


SDK_TABLES = ("core/image_uri_config/pytorch.json", "image_uri_config/pytorch.json")  # v3 (sagemaker-core), v2


def _sdk_table() -> Path | None:
    """The SageMaker SDK's own pytorch.json, where an SDK is installed: in this interpreter, or in the one
    $SAGEMAKER_PYTHON names (the SDK is not a dependency of mlops; bench/bench_startup.py uses the same)."""
    python = sys.executable if importlib.util.find_spec("sagemaker") else os.environ.get("SAGEMAKER_PYTHON")
    if not python:
        return None
    finder = (
        "import importlib.util, json; spec = importlib.util.find_spec('sagemaker'); "
        "print(json.dumps(list(spec.submodule_search_locations or []) if spec else []))"
    )
    found = subprocess.run([python, "-c", finder], capture_output=True, text=True)
    folders = json.loads(found.stdout) if found.returncode == 0 else []
    return next(
        (
            Path(folder) / relative
            for folder in folders
            for relative in SDK_TABLES
            if (Path(folder) / relative).is_file()
        ),
        None,
    )


@pytest.mark.skipif(
    _sdk_table() is None,
    reason="no SageMaker SDK to compare the committed table with (pip install "
    "sagemaker here, or set SAGEMAKER_PYTHON to a python that has it)",
)
def test_committed_table_matches_the_sdk():
    sdk = images.trim_sdk_table(json.loads(_sdk_table().read_text()))
    ours = images.table()
    for scope in images.SCOPES:
        for version, entry in ours[scope]["versions"].items():
            assert sdk[scope]["versions"].get(version) == entry, f"{scope} {version} differs from the SDK"
        assert ours[scope]["processors"] == sdk[scope]["processors"]
        for alias, target in ours[scope]["version_aliases"].items():
            assert sdk[scope]["version_aliases"].get(alias) == target, f"{scope} alias {alias} differs from the SDK"


def test_committed_table_is_the_trimmed_sdk_shape():
    table = images.table()
    assert "_origin" in table and "sagemaker" in table["_origin"]
    assert images.trim_sdk_table(table) == {scope: table[scope] for scope in images.SCOPES}
