"""The project config file: `mlops.yaml` found from the current folder up, its `include:`, `mlops init --local`,
and the project's own home (`.mlops/` beside it). Driven through the CLI in a subprocess, so the current folder and
the environment are the test's own, as a user's shell would have them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO


def mlops(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`mlops ARGS` in `folder` with no MLOPS_CONFIG / MLOPS_HOME / the suite's endpoint (unless `env` sets them),
    as typed by hand."""
    base = {k: v for k, v in os.environ.items() if k not in ("MLOPS_CONFIG", "MLOPS_HOME", "MLOPS_AWS__ENDPOINT_URL")}
    return subprocess.run(
        [sys.executable, "-m", "mlops_cli", *args],
        cwd=folder,
        # HOME too: what a command keeps in ~/.mlops without a project (a config cache) stays the test's.
        env={**base, "HOME": str(folder), "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def shown(folder: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    done = mlops(folder, "-o", "json", *args, "config", "show", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_without_a_project_file_the_defaults_target_real_aws(tmp_path):
    config = shown(tmp_path)
    assert config["aws"]["endpoint_url"] is None and config["s3"]["bucket"] == "my-ml-bucket"
    assert config["config_files"] == []
    done = mlops(tmp_path, "config", "show")
    assert "(none: built-in defaults)" in done.stdout


def test_init_local_writes_the_project_file_every_folder_below_reads(tmp_path):
    done = mlops(tmp_path, "init", "--local", "--port", "4610")
    assert done.returncode == 0, done.stderr
    below = tmp_path / "a" / "b"
    below.mkdir(parents=True)
    config = shown(below)
    assert config["aws"]["endpoint_url"] == "http://127.0.0.1:4610"
    assert config["project"] == "digits" and config["model"]["arch"] == "resnet18"  # the shipped local profile
    assert config["config_files"] == [str(tmp_path / "mlops.yaml")]
    assert shown(tmp_path)["config_files"] == ["mlops.yaml"]
    # -c and MLOPS_CONFIG still choose for themselves; MLOPS_CONFIG set but empty means the built-in defaults.
    assert shown(below, env={"MLOPS_CONFIG": ""})["aws"]["endpoint_url"] is None
    default = REPO / "configs" / "default.yaml"
    assert shown(below, "-c", str(default))["config_files"] == [str(default)]
    # The home is the project's: `local status` names it, without MLOPS_HOME, from any folder below.
    done = mlops(below, "-o", "json", "local", "status")
    assert json.loads(done.stdout)["home"] == str(tmp_path / ".mlops")
    assert json.loads(done.stdout)["state_dir"].startswith(str(tmp_path / ".mlops" / "local" / "4610"))
    done = mlops(below, "-o", "json", "local", "status", env={"MLOPS_HOME": str(tmp_path / "elsewhere")})
    assert json.loads(done.stdout)["home"] == str(tmp_path / "elsewhere")


def test_init_never_replaces_what_it_did_not_write(tmp_path):
    assert mlops(tmp_path, "init", "--local").returncode == 0
    written = (tmp_path / "mlops.yaml").read_text()
    again = mlops(tmp_path, "init", "--local", "--port", "4700")
    assert again.returncode == 2 and "exists" in again.stderr and "--force" in again.stderr
    assert (tmp_path / "mlops.yaml").read_text() == written
    forced = mlops(tmp_path, "init", "--local", "--port", "4700", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "http://127.0.0.1:4700" in (tmp_path / "mlops.yaml").read_text()
    (tmp_path / "mlops.yaml").write_text("project: mine\n")
    refused = mlops(tmp_path, "init", "--local", "--force")
    assert refused.returncode == 2 and "did not write it" in refused.stderr, refused.stderr
    assert (tmp_path / "mlops.yaml").read_text() == "project: mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["mlops.yaml"]  # no temporary file left behind
    assert mlops(tmp_path, "init").returncode == 2  # no --local: says how, changes nothing


def test_includes_are_read_first_relative_to_the_including_file(tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text("project: base\ns3: {bucket: base-bucket, prefix: p}\n")
    (tmp_path / "configs" / "more.yaml").write_text("include: base.yaml\ns3: {prefix: from-more}\n")
    (tmp_path / "mlops.yaml").write_text("include: [configs/more.yaml]\ns3:\n  bucket: own-bucket\n")
    config = shown(tmp_path)
    assert (config["project"], config["s3"]["bucket"], config["s3"]["prefix"]) == ("base", "own-bucket", "from-more")
    assert config["config_files"] == ["configs/base.yaml", "configs/more.yaml", "mlops.yaml"]
    validated = mlops(tmp_path, "-o", "json", "config", "validate")
    assert json.loads(validated.stdout)["files"] == config["config_files"]


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ({"mlops.yaml": "project: x\ninclude: [missing.yaml]\n"}, ["mlops.yaml:2", "not found", "missing.yaml"]),
        (
            {"mlops.yaml": "include: a.yaml\n", "a.yaml": "s3: {prefix: a}\ninclude: [mlops.yaml]\n"},
            ["a.yaml:2", "include cycle", "mlops.yaml -> a.yaml -> mlops.yaml"],
        ),
        ({"mlops.yaml": "include: {a: 1}\n"}, ["mlops.yaml:1", "include: expected a file name"]),
        ({"mlops.yaml": "include: [base.yaml]\n", "base.yaml": "s3: {prefx: a}\n"}, ["base.yaml:1", "s3.prefx"]),
    ],
)
def test_bad_includes_are_one_line_config_errors(tmp_path, files, words):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    done = mlops(tmp_path, "config", "show")
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2 and "Traceback" not in done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


@pytest.mark.parametrize("kind", ["dangling link", "folder"])
def test_a_project_file_that_is_not_a_file_is_an_error_not_real_aws(tmp_path, kind):
    if kind == "dangling link":
        (tmp_path / "mlops.yaml").symlink_to(tmp_path / "configs" / "renamed.yaml")
    else:
        (tmp_path / "mlops.yaml").mkdir()
    done = mlops(tmp_path, "config", "show")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: project config {tmp_path / 'mlops.yaml'} ")
    assert "real AWS" not in done.stdout and "my-ml-bucket" not in done.stdout


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")
def test_a_project_file_owned_by_another_user_is_not_read(tmp_path):
    """A shared folder's mlops.yaml (e.g. /tmp's) must not choose the endpoint and home of everyone below it."""
    shared = tmp_path / "shared"
    (shared / "mine").mkdir(parents=True)
    planted = shared / "mlops.yaml"
    planted.write_text("aws:\n  endpoint_url: http://127.0.0.1:9\n")
    os.chown(planted, 65534, 65534)
    done = mlops(shared / "mine", "config", "show")
    assert done.returncode == 2
    assert f"project config {planted} is owned by another user (uid 65534)" in done.stderr
    assert not (shared / ".mlops").exists()
    named = mlops(
        shared / "mine", "-o", "json", "config", "show", env={"MLOPS_CONFIG": "", "MLOPS_HOME": str(tmp_path / "h")}
    )
    assert named.returncode == 0, named.stderr


@pytest.mark.parametrize(
    "include, says",
    [
        ("/etc/hostname", "outside"),
        ("../outside.yaml", "outside"),
        ("/dev/zero", "outside"),
        ("inside", "not a regular file"),
    ],
)
def test_includes_stay_inside_the_project_folder(tmp_path, include, says):
    """A config must not read (and echo in its errors) files from elsewhere on the machine."""
    (tmp_path / "outside.yaml").write_text("project: elsewhere\n")
    project = tmp_path / "project"
    (project / "inside").mkdir(parents=True)
    (project / "mlops.yaml").write_text(f"include: [{include}]\n")
    done = mlops(project, "config", "show")
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_includes_that_fan_out_are_capped(tmp_path):
    (tmp_path / "mlops.yaml").write_text("include: [" + ", ".join(["a.yaml"] * 30) + "]\n")
    (tmp_path / "a.yaml").write_text("include: [" + ", ".join(["b.yaml"] * 30) + "]\n")
    (tmp_path / "b.yaml").write_text("project: fan\n")
    done = mlops(tmp_path, "config", "show")
    assert done.returncode == 2 and "more than 64 config files read" in done.stderr
