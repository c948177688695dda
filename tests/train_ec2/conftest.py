"""Fixtures for `mlops train-ec2`: the local config, a tiny data set (the digits sample in S3 is
tests/conftest.py's)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlops_cli.config import load_config
from tests.helpers import LOCAL_CONFIG


@pytest.fixture(scope="session")
def local_config():
    return load_config([LOCAL_CONFIG], env={})


@pytest.fixture
def tiny_digits(digits_dir: Path, tmp_path: Path) -> Path:
    """Two classes, a handful of images per split: enough for the entry point to run end to end in seconds."""
    target = tmp_path / "tiny"
    for split in ("train", "valid", "test"):
        for class_dir in sorted((digits_dir / split).iterdir())[:2]:
            dest = target / split / class_dir.name
            dest.mkdir(parents=True)
            for image in sorted(class_dir.iterdir())[:6]:
                shutil.copy(image, dest / image.name)
    return target
