"""Fixtures for `mlops tune` against the local AWS: a small slice of the digits sample in S3, so each trial (a real
local training job, configs/local.yaml's recipe, one epoch) costs a few seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import LOCAL_CONFIG, copy_first_images

TUNE_DATA = "tune-data"
IMAGES_PER_CLASS = {"train": 16, "valid": 8, "test": 4}


@pytest.fixture(scope="session")
def small_digits_in_s3(local_aws: str, digits_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The first images of each class of every split, uploaded to s3://mlops-local/digits/tune-data; returns the
    environment that points `data.s3_prefix` at them."""
    from typer.testing import CliRunner

    from mlops_cli.app import app

    source = copy_first_images(digits_dir, tmp_path_factory.mktemp("small-digits"), IMAGES_PER_CLASS)
    result = CliRunner().invoke(
        app,
        ["-c", str(LOCAL_CONFIG), "-q", "data", "upload", str(source), "--to", f"s3://mlops-local/digits/{TUNE_DATA}"],
    )
    assert result.exit_code == 0, result.output
    return {"MLOPS_DATA__S3_PREFIX": TUNE_DATA}
