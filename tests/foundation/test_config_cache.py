"""Validated configs remembered across runs (mlops_cli.config.cache): a second `config validate` imports neither
pydantic nor YAML, and any change to what decided the answer (an included file, a variable, a flag) is seen."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.foundation.test_project_config import mlops, shown
from tests.helpers import REPO


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


def test_a_piped_config_is_validated_not_remembered(tmp_path):
    """A pipe cannot be read twice: its text is what is validated, every time."""
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "mlops_cli", "-c", "/dev/stdin", "config", "validate"],
            input="project: BAD VALUE\n",
            cwd=tmp_path,
            env={**os.environ, "MLOPS_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and "project" in done.stderr, done.stderr


def test_an_entry_not_written_by_a_validation_is_ignored(tmp_path):
    """A cache file planted in the project's home (e.g. committed to a repository) does not make a bad config
    pass: an entry counts only with the schema's source stamp a validation on this machine recorded."""
    _project(tmp_path, 1)
    assert mlops(tmp_path, "config", "validate").returncode == 0
    (tmp_path / "sub" / "base.yaml").write_text("deploy:\n  instance_count: 0\n")
    (entry,) = (tmp_path / ".mlops" / "cache").glob("config-*.json")
    forged = json.loads(entry.read_text())
    forged.update(sources={}, files={})
    entry.write_text(json.dumps(forged))
    assert mlops(tmp_path, "config", "validate").returncode == 2


def test_an_include_turned_into_a_fifo_is_refused_at_once(tmp_path):
    _project(tmp_path, 1)
    assert mlops(tmp_path, "config", "validate").returncode == 0
    (tmp_path / "sub" / "base.yaml").unlink()
    os.mkfifo(tmp_path / "sub" / "base.yaml")
    done = mlops(tmp_path, "config", "validate")  # mlops() times out at 60 s: a blocking read would fail the test
    assert done.returncode == 2 and "not a regular file" in done.stderr, done.stderr


def test_the_prune_never_deletes_files_it_did_not_make(tmp_path):
    """A cache folder that is a link elsewhere is not used; one without the tool's marker is never pruned."""
    victim = tmp_path / "victim"
    victim.mkdir()
    for index in range(40):
        (victim / f"config-prod-{index}.json").write_text("{}")
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlops.yaml").write_text("project: hostile\n")
    (project / ".mlops").mkdir()
    (project / ".mlops" / "cache").symlink_to(victim)
    assert mlops(project, "config", "show").returncode == 0
    assert len(list(victim.iterdir())) == 40
    (project / ".mlops" / "cache").unlink()
    (project / ".mlops" / "cache").mkdir()  # made by someone else: no marker
    for index in range(40):
        (project / ".mlops" / "cache" / f"config-kept-{index}.json").write_text("{}")
    for count in range(1, 4):
        (project / "mlops.yaml").write_text(f"project: p{count}\n")
        assert mlops(project, "config", "show").returncode == 0
    assert all((project / ".mlops" / "cache" / f"config-kept-{index}.json").exists() for index in range(40))
