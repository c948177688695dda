"""Config layering and validation, driven through the CLI (`config show` / `config validate`)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def show(mlops, *files: Path, env: dict | None = None, extra: tuple[str, ...] = ()) -> dict:
    args: list[str] = []
    for file in files:
        args += ["-c", str(file)]
    result = mlops(*args, "-o", "json", *extra, "config", "show", config=None, env=env)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_defaults_mirror_the_course_project(mlops):
    config = show(mlops)
    assert config["model"] == {
        "arch": "resnet50",
        "pretrained": True,
        "pretrained_fallback": False,
        "freeze_backbone": True,
        "hidden_units": 128,
        "num_classes": 133,
        "image_size": 224,
    }
    assert config["train"]["sagemaker"]["instance_type"] == "ml.m5.xlarge"
    assert config["deploy"]["instance_type"] == "ml.m5.large"
    assert config["autoscale"] == {
        "min": 1,
        "max": 2,
        "target_invocations": 5.0,
        "scale_in_cooldown_s": 30,
        "scale_out_cooldown_s": 30,
    }
    assert config["lambda"]["reserved_concurrency"] == 10 and config["lambda"]["provisioned_concurrency"] == 1


def test_precedence_defaults_files_env_flags(mlops, tmp_path):
    first = write(tmp_path, "a.yaml", "project: alpha\ns3: {bucket: bucket-a, prefix: pa}\naws: {region: eu-west-1}\n")
    second = write(tmp_path, "b.yaml", "s3: {bucket: bucket-b}\n")
    config = show(mlops, first, second)
    assert (config["project"], config["s3"]["bucket"], config["s3"]["prefix"]) == ("alpha", "bucket-b", "pa")
    env = {"MLOPS_S3__BUCKET": "bucket-env", "MLOPS_TRAIN__SAGEMAKER__INSTANCE_COUNT": "3", "AWS_REGION": "us-west-2"}
    config = show(mlops, first, second, env=env)
    assert config["s3"]["bucket"] == "bucket-env"
    assert config["train"]["sagemaker"]["instance_count"] == 3  # env values are typed like YAML scalars
    assert config["aws"]["region"] == "us-west-2"  # AWS_REGION beats the file
    config = show(mlops, first, second, env={**env, "MLOPS_AWS__REGION": "ap-south-1"}, extra=("--region", "sa-east-1"))
    assert config["aws"]["region"] == "sa-east-1"  # the flag beats everything


def test_mlops_config_env_names_default_files(mlops, tmp_path):
    file = write(tmp_path, "x.yaml", "project: from-env-file\n")
    assert show(mlops, env={"MLOPS_CONFIG": str(file)})["project"] == "from-env-file"


def test_shipped_configs_are_valid(mlops):
    repo = Path(__file__).resolve().parents[2]
    for name in ("default.yaml", "local.yaml"):
        result = mlops("config", "validate", config=repo / "configs" / name)
        assert result.exit_code == 0, result.stderr


BAD_CONFIGS = [
    # (yaml text, env, words the one-line message must contain)
    ("s3:\n  bucket: ok-bucket\n  prefx: a\n", {}, ["s3.prefx", "did you mean 'prefix'", ":3"]),
    ("projcet: x\n", {}, ["projcet", "did you mean 'project'"]),
    ("model:\n  arch: resnet9000\n", {}, ["model.arch", "resnet18"]),
    ("train:\n  sagemaker:\n    instance_count: zero\n", {}, ["train.sagemaker.instance_count", "integer", ":3"]),
    ("train:\n  sagemaker:\n    instance_count: 0\n", {}, ["train.sagemaker.instance_count", "greater than or equal"]),
    ("train:\n  hyperparameters:\n    lr: -1\n", {}, ["train.hyperparameters.lr", "greater than 0"]),
    ("autoscale:\n  min: 3\n  max: 2\n", {}, ["autoscale", "min (3) must be <= max (2)"]),
    ("lambda:\n  reserved_concurrency: 1\n  provisioned_concurrency: 4\n", {}, ["lambda", "provisioned_concurrency"]),
    ("s3:\n  bucket: Not_A_Bucket\n", {}, ["s3.bucket", "S3 bucket name"]),
    ("aws:\n  endpoint_url: http://10.1.2.3:4566\n", {}, ["aws.endpoint_url", "loopback"]),
    ("aws:\n  endpoint_url: ftp://127.0.0.1\n", {}, ["aws.endpoint_url", "http(s)"]),
    ("aws:\n  region: moon-base-1a\n", {}, ["aws.region"]),
    ("- just\n- a list\n", {}, ["expected a mapping"]),
    ("model: [unclosed\n", {}, ["invalid YAML", ":2"]),
    ("train:\n  sagemaker:\n    max_run_s: 7200\n    max_wait_s: 3600\n", {}, ["max_wait_s must be >= max_run_s"]),
    ("train:\n  sagemaker:\n    role_arn: not-an-arn\n", {}, ["train.sagemaker.role_arn"]),
    ("train:\n  ec2:\n    security_group_ids: [default]\n", {}, ["train.ec2.security_group_ids", "security group id"]),
    ("audit:\n  fail_on: sometimes\n", {}, ["audit.fail_on", "'high'"]),
    ("deploy:\n  endpoint_name: bad_name!\n", {}, ["deploy.endpoint_name"]),
    ("model:\n  pretrained: maybe\n", {}, ["model.pretrained", "boolean"]),
    ("", {"MLOPS_DEPLOY__INSTANCE_COUNT": "many"}, ["MLOPS_DEPLOY__INSTANCE_COUNT", "deploy.instance_count"]),
    ("", {"MLOPS_LAMBDA__MEMORY": "512"}, ["MLOPS_LAMBDA__MEMORY", "lambda.memory", "did you mean 'memory_mb'"]),
]


@pytest.mark.parametrize("text,env,expected", BAD_CONFIGS, ids=[f"bad{i}" for i in range(len(BAD_CONFIGS))])
def test_bad_config_exits_2_with_one_clear_line(mlops, tmp_path, text, env, expected):
    file = write(tmp_path, "bad.yaml", text)
    # The session's local AWS sets MLOPS_AWS__ENDPOINT_URL, which would mask a bad endpoint in the file.
    result = mlops("-c", str(file), "config", "validate", config=None, env={"MLOPS_AWS__ENDPOINT_URL": None, **env})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ")
    assert len([line for line in lines if line.startswith("error:")]) == 1
    for word in expected:
        assert word in lines[0], (word, lines[0])
    if not env:
        assert str(file) in lines[0] or "invalid YAML" in lines[0] or "mapping" in lines[0]
    assert "Traceback" not in result.output


def test_missing_config_file(mlops, tmp_path):
    result = mlops("-c", str(tmp_path / "nope.yaml"), "config", "validate", config=None)
    assert result.exit_code == 2 and "config file not found" in result.stderr


def test_flag_error_names_the_flag(tmp_path):
    """Command flags are validated by the same schema and blamed on the flag."""
    from mlops_cli.config import load_config
    from mlops_cli.errors import UsageError

    with pytest.raises(UsageError, match=r"flag --instance-count: train.sagemaker.instance_count"):
        load_config([], env={}, overrides={"train.sagemaker.instance_count": 0})


def test_flag_error_names_the_flag_as_typed(mlops):
    """`--name` sets lambda.function_name: the error names `--name`, not a flag the command lacks."""
    result = mlops("lambda", "deploy", "--name", "bad name", "--dry-run")
    assert result.exit_code == 2
    assert "flag --name: lambda.function_name" in result.stderr and "Traceback" not in result.output


def _validate_in_a_process(file: Path, home: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`mlops -c FILE config validate` in a fresh interpreter; returns its result and the heavy modules it loaded."""
    code = (
        "import sys\nfrom mlops_cli.app import main\ntry:\n    main()\nfinally:\n"
        "    print([m for m in ('pydantic', 'yaml', 'rich') if m in sys.modules], file=sys.stderr)"
    )
    env = {**os.environ, "MLOPS_HOME": str(home)}
    env.pop("MLOPS_AWS__ENDPOINT_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", code, "-c", str(file), "config", "validate"], capture_output=True, text=True, env=env
    )
    return done, ast.literal_eval(done.stderr.strip().splitlines()[-1])


def test_a_config_validated_before_is_read_without_pydantic_or_yaml(tmp_path):
    """The validated values are remembered across runs (config/cache.py); a changed file is validated again."""
    file = write(tmp_path, "c.yaml", "project: cached\nautoscale: {min: 1, max: 3}\n")
    first, loaded = _validate_in_a_process(file, tmp_path / "home")
    assert first.returncode == 0 and "(project cached)" in first.stderr and "pydantic" in loaded
    again, loaded = _validate_in_a_process(file, tmp_path / "home")
    assert again.returncode == 0 and "(project cached)" in again.stderr and loaded == []
    file.write_text("project: cached\nautoscale: {min: 4, max: 3}\n")
    bad, _ = _validate_in_a_process(file, tmp_path / "home")
    assert bad.returncode == 2 and f"{file}:2: autoscale: min (4) must be <= max (3)" in bad.stderr


def test_a_remembered_config_no_longer_counts_once_a_source_file_changes(tmp_path, monkeypatch):
    """Like a bytecode cache: an entry records the modules loaded when it was validated (size, mtime)."""
    import types

    from mlops_cli.config import cache

    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    validator = write(tmp_path, "validator.py", "RULE = 1\n")
    module = types.ModuleType("a_validator")
    module.__file__ = str(validator)
    monkeypatch.setitem(sys.modules, "a_validator", module)
    entry = cache.key(["project: x\n"], {}, {})
    assert entry != cache.key(["project: x\n"], {"MLOPS_S3__BUCKET": "b"}, {})
    assert entry != cache.key(["project: x\n"], {}, {"n": 5})
    assert cache.key([], {}, {"n": 5}) != cache.key([], {}, {"n": "5"})  # a typed value is a different input
    cache.write(entry, {"project": "x"})
    assert cache.read(entry) == {"project": "x"}
    validator.write_text("RULE = 22\n")
    assert cache.read(entry) is None
