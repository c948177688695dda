"""Fixtures for deploy/autoscale/invoke/status/teardown: model artifacts in the local S3 (the session's real
training job, tests/conftest.py, and two variants of it)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import LOCAL_CONFIG

MODELS = "s3://mlops-local/digits/models/deploy-tests"


def cli(*args: str, env: dict | None = None):
    from mlops_cli.app import app

    return CliRunner().invoke(app, ["-c", str(LOCAL_CONFIG), *args], env=env, catch_exceptions=False)


def _put(s3, uri: str, data: bytes) -> str:
    bucket, key = uri[5:].split("/", 1)
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return uri


def _tar(members: dict[str, bytes], code_from: tarfile.TarFile | None = None) -> bytes:
    """A model.tar.gz holding `members` and, if given, the `code/` tree of another archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if code_from is not None:
            for member in code_from.getmembers():
                if member.name.startswith("code"):
                    tar.addfile(member, code_from.extractfile(member) if member.isfile() else None)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def artifacts(trained_job, boto_client) -> dict[str, str]:
    """S3 URIs: the trained model, the same weights with relabelled classes ("v2-zero"...) so a test can tell
    which model answered, and a broken one (garbage weights, real serving code)."""
    import torch

    s3 = boto_client("s3")
    trained = trained_job.model_data
    bucket, key = trained[5:].split("/", 1)
    original = tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), mode="r:gz")
    payload = torch.load(io.BytesIO(original.extractfile("model.pt").read()), weights_only=True)
    payload["class_names"] = [name.replace(".", ".v2-", 1) for name in payload["class_names"]]
    weights = io.BytesIO()
    torch.save(payload, weights)
    return {
        "trained": trained,
        "relabelled": _put(s3, f"{MODELS}/relabelled/model.tar.gz", _tar({"model.pt": weights.getvalue()}, original)),
        "broken": _put(s3, f"{MODELS}/broken/model.tar.gz", _tar({"model.pt": b"not a torch file"}, original)),
    }


@pytest.fixture(scope="session")
def china_jpg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real photo (scikit-learn's sample image), as JPEG."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    path = tmp_path_factory.mktemp("photos") / "china.jpg"
    Image.fromarray(load_sample_image("china.jpg")).save(path, quality=90)
    return path
