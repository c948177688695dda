"""Validated configs remembered across runs (mlops_cli.config.cache): a second `config validate` imports neither
pydantic nor YAML, and any change to what decided the answer (an included file, a variable, a flag) is seen."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.foundation.test_project_config import mlops, shown


def _project(folder: Path, count: int) -> None:
    (folder / "mlops.yaml").write_text("include: [sub/base.yaml]\nproject: cached\n")
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "base.yaml").write_text(f"deploy:\n  instance_count: {count}\n")


def _imports(folder: Path, *args: str) -> str:
    done = mlops(folder, *args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_second_validate_imports_neither_pydantic_nor_yaml(tmp_path):
    _project(tmp_path, 1)
    first = _imports(tmp_path, "config", "validate")
    again = _imports(tmp_path, "config", "validate")
    assert "| pydantic\n" in first and "| yaml\n" in first
    assert "| pydantic\n" not in again and "| yaml\n" not in again
    assert "config OK: sub/base.yaml, mlops.yaml (project cached)" in again
    entries = list((tmp_path / ".mlops" / "cache").glob("config-*.json"))
    assert entries and all(stat.S_IMODE(entry.stat().st_mode) == 0o600 for entry in entries)


def test_an_edited_include_a_variable_or_a_flag_is_seen(tmp_path):
    _project(tmp_path, 1)
    assert shown(tmp_path)["deploy"]["instance_count"] == 1
    (tmp_path / "sub" / "base.yaml").write_text("deploy:\n  instance_count: 3\n")  # same size, same second
    assert shown(tmp_path)["deploy"]["instance_count"] == 3
    assert shown(tmp_path, env={"MLOPS_DEPLOY__INSTANCE_COUNT": "2"})["deploy"]["instance_count"] == 2
    assert shown(tmp_path, "--region", "eu-west-1")["aws"]["region"] == "eu-west-1"
    assert shown(tmp_path)["deploy"]["instance_count"] == 3


def test_an_invalid_config_is_never_remembered(tmp_path):
    _project(tmp_path, 1)
    assert mlops(tmp_path, "config", "validate").returncode == 0
    (tmp_path / "sub" / "base.yaml").write_text("deploy:\n  instance_count: 0\n")
    for _ in range(2):
        done = mlops(tmp_path, "config", "validate")
        assert done.returncode == 2
        assert done.stderr.strip().splitlines()[-1].startswith("error: sub/base.yaml:2: deploy.instance_count")
