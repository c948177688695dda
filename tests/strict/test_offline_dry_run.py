"""`--dry-run` needs neither network nor credentials: when AWS cannot be reached, or no credentials exist, every
mutating command still prints its plan (exit 0), made for an account where nothing exists yet, says so in one
line, and every request in it is valid by botocore's model. Nothing is sent: the endpoint is a loopback port
nobody listens on, and without credentials botocore signs nothing (so it sends nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_cli.local.core.validate import check_params
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / "configs" / "default.yaml"
MODEL = "s3://my-ml-bucket/dog-breeds/models/contract/output/model.tar.gz"

COMMANDS = {
    "data upload": ["data", "upload", "{images}"],
    "train": ["train"],
    "tune": ["tune", "--max-jobs", "2", "--parallel", "1"],
    "train-ec2": ["train-ec2"],
    "deploy": ["deploy"],
    "deploy --model --autoscale": ["deploy", "--model", MODEL, "--autoscale", "max=2"],
    "autoscale": ["autoscale", "--max", "3"],
    "lambda deploy": ["lambda", "deploy"],
    "concurrency set": ["concurrency", "set", "--reserved", "10", "--provisioned", "1"],
    "teardown --all --lambda": ["teardown", "--all", "--lambda"],
    "invoke": ["invoke", "https://example.com/dog.jpg"],
    "lambda invoke": ["lambda", "invoke", "--url", "https://example.com/dog.jpg"],
}
OFFLINE_LINE = "offline: planned for an account where nothing exists yet"
# Two dozen CLI runs (about a minute): with the integration tier, not the fast one.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("offline-images")
    (folder / "train" / "001.one").mkdir(parents=True)
    (folder / "train" / "001.one" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    return folder


WITHOUT_CREDENTIALS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.mark.parametrize(
    ("name", "why"),
    [(name, "unreachable") for name in COMMANDS]
    + [("lambda deploy", "no credentials"), ("train-ec2", "no credentials")],
)
def test_dry_run_plans_offline_for_an_empty_account(name, why, mlops, images, monkeypatch):
    for variable in WITHOUT_CREDENTIALS:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("MLOPS_AWS__ENDPOINT_URL", raising=False)
    env = {"MLOPS_AWS__ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"} if why == "unreachable" else {}
    args = [arg.format(images=images) for arg in COMMANDS[name]]
    result = mlops("-o", "json", *args, "--dry-run", config=DEFAULT_CONFIG, env=env)
    assert result.exit_code == 0, result.output
    assert OFFLINE_LINE in result.stderr and len(result.stderr.splitlines()) <= 2, result.stderr
    plan = json.loads(result.stdout)
    assert plan["dry_run"] is True and plan["offline"] is True
    for step in plan["steps"]:
        if step["service"] != "local":
            assert check_params(step["service"], step["operation"], step["params"]) == [], step
