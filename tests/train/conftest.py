"""Fixtures for `mlops train`: dry-run plans as JSON, a broken data set, the one uninterrupted 2-instance job on the
small slice of the digits (the data sets in S3 and the session's 1-instance training job are tests/conftest.py's)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import LOCAL_CONFIG
from tests.recipe import DDP_EPOCHS


@pytest.fixture
def dry_run(mlops):
    """`mlops -o json train --dry-run ARGS` -> (CreateTrainingJob params, the whole plan, stderr)."""

    def run(*args: str, env: dict | None = None):
        result = mlops("-o", "json", "train", "--dry-run", *args, env=env)
        assert result.exit_code == 0, result.output
        plan = json.loads(result.stdout)
        create = [step for step in plan["steps"] if step["operation"] == "CreateTrainingJob"]
        assert len(create) == 1
        return create[0]["params"], plan, result.stderr

    return run


@pytest.fixture(scope="session")
def broken_data_prefix(local_aws: str, digits_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A data prefix holding only train/ (no valid/ or test/): the entry point must fail on it."""
    from typer.testing import CliRunner

    from mlops_cli.app import app

    source = tmp_path_factory.mktemp("broken")
    for class_dir in sorted((digits_dir / "train").iterdir())[:2]:
        dest = source / "train" / class_dir.name
        dest.mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:4]:
            shutil.copy(image, dest / image.name)
    result = CliRunner().invoke(
        app,
        ["-c", str(LOCAL_CONFIG), "-q", "data", "upload", str(source), "--to", "s3://mlops-local/digits/broken-data"],
    )
    assert result.exit_code == 0, result.output
    return "broken-data"


@pytest.fixture(scope="session")
def ddp_job(small_digits_in_s3: dict[str, str]):
    """`mlops -o json train --instance-count 2` with configs/local.yaml's recipe for DDP_EPOCHS on the small slice,
    uninterrupted: the click Result (the DescribeTrainingJob answer on stdout, the progress on stderr). The DDP test
    checks it; the spot test compares its interrupted and resumed run with it."""
    from typer.testing import CliRunner

    from mlops_cli.app import app

    result = CliRunner().invoke(
        app,
        [
            *("-c", str(LOCAL_CONFIG), "-o", "json", "train", "--instance-count", "2", "--wait"),
            *("--job-name", "ddp-two", "--hp", f"epochs={DDP_EPOCHS}"),
        ],
        env=small_digits_in_s3,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output[-3000:]
    return result
