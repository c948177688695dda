"""The CLI surface: every mission command registered, fast imports, one error boundary, local AWS lifecycle."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest

MISSION = [
    "data",
    "train",
    "train-ec2",
    "deploy",
    "autoscale",
    "lambda",
    "concurrency",
    "audit-iam",
    "config",
    "local",
    "invoke",
    "status",
    "teardown",
]
HEAVY = ("torch", "torchvision", "boto3", "botocore", "sagemaker", "moto", "pydantic")


def test_help_lists_every_mission_command(mlops):
    result = mlops("--help", config=None)
    assert result.exit_code == 0
    for name in MISSION:
        assert f" {name} " in result.stdout, name
    assert "upload" in mlops("data", "--help", config=None).stdout
    assert "deploy" in mlops("lambda", "--help", config=None).stdout
    assert "set" in mlops("concurrency", "--help", config=None).stdout


def test_importing_the_app_loads_nothing_heavy():
    code = f"import sys, mlops_cli.app; print([m for m in {HEAVY!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_version(mlops):
    from mlops_cli import __version__

    result = mlops("--version", config=None)
    assert result.exit_code == 0 and result.stdout.strip() == f"mlops {__version__}"


def test_usage_error_exits_2_without_traceback(mlops):
    result = mlops("config", "show", "--no-such-flag", config=None)
    assert result.exit_code == 2 and "No such option" in result.output and "Traceback" not in result.output
    result = mlops("-o", "yaml", "config", "show", config=None)
    assert result.exit_code == 2 and "--output" in result.output


def test_global_options_work_after_the_subcommand(mlops):
    result = mlops("config", "show", "-o", "json", "--region", "eu-central-1", config=None)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["aws"]["region"] == "eu-central-1"


def test_shell_completion_is_offered(runner):
    """The protocol a shell's completion script speaks: the script itself, then the words it completes. (Not
    `--show-completion`: that detects the shell from the process tree, which differs between a terminal and CI.)"""
    from mlops_cli.app import app

    script = runner.invoke(app, [], prog_name="mlops", env={"_MLOPS_COMPLETE": "source_bash"})
    assert script.exit_code == 0 and "_MLOPS_COMPLETE=complete_bash" in script.stdout
    words = {"_MLOPS_COMPLETE": "complete_bash", "COMP_WORDS": "mlops dep", "COMP_CWORD": "1"}
    completed = runner.invoke(app, [], prog_name="mlops", env=words)
    assert completed.exit_code == 0 and completed.stdout.split() == ["deploy"]


@pytest.mark.integration  # a real subprocess server: make test only
@pytest.mark.slow
def test_local_aws_lifecycle(tmp_path):
    """up starts a health-checked background server with a pid file; up again is a no-op; down stops it."""
    from tests.helpers import LOCAL_CONFIG, free_port

    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "MLOPS_HOME": str(tmp_path), "MLOPS_AWS__ENDPOINT_URL": url}
    cli = [sys.executable, "-m", "mlops_cli", "-c", str(LOCAL_CONFIG), "-o", "json", "local"]

    def run(verb: str) -> subprocess.CompletedProcess:
        return subprocess.run(cli + [verb], env=env, capture_output=True, text=True, timeout=60)

    assert run("status").returncode == 1
    up = run("up")
    assert up.returncode == 0 and "started" in up.stderr
    server = json.loads(up.stdout)
    assert server["running"] and server["pid"]
    assert json.loads((tmp_path / "local" / url.rsplit(":", 1)[1] / "server.pid").read_text())["pid"] == server["pid"]
    # The home holds credentials and state: never part of a project's commits.
    assert (tmp_path / ".gitignore").read_text().splitlines()[-1] == "*"
    with urllib.request.urlopen(url + "/_mlops/health", timeout=5) as response:
        assert json.loads(response.read())["pid"] == server["pid"]
    again = run("up")
    assert again.returncode == 0 and "already running" in again.stderr
    down = run("down")
    assert down.returncode == 0 and "stopped" in down.stderr
    with pytest.raises(OSError):
        os.kill(server["pid"], 0)
    assert run("status").returncode == 1


def test_local_aws_refuses_non_loopback(mlops):
    result = mlops("local", "up", config=None, env={"MLOPS_AWS__ENDPOINT_URL": "https://example.com"})
    assert result.exit_code == 2 and "loopback" in result.stderr


def test_local_aws_refuses_an_unknown_spot_interruption(mlops):
    result = mlops("local", "up", config=None, env={"MLOPS_LOCAL_SPOT_INTERRUPTIONS": "checkpoint,sometimes"})
    assert result.exit_code == 2
    assert "MLOPS_LOCAL_SPOT_INTERRUPTIONS: 'sometimes' is not an interruption" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "message",
    [
        "config OK: configs/local.yaml (project mlops-local)",
        "uploaded 3 files: 12 KB",
        "éàü 100 % → done",
        "a\tb",
        "two\nlines",
        "bell\x07",
        "wave :wave: here",
        "time 10:20:30",
    ],
)
def test_info_lines_print_as_rich_would(capsys, message):
    """Output.info writes a plain line itself (no rich import); what it prints is what rich would have."""
    from mlops_cli.render import Output, console

    Output().info(message)
    ours = capsys.readouterr().err
    console(stderr=True).print(message, markup=False)
    assert ours == capsys.readouterr().err


def test_plain_parameter_values_are_what_typers_coercion_gives():
    """mlops_cli/plain_params.py takes str, flag and repeated-str values as they are, without pydantic: for every
    such parameter of every command, the same values Typer's own coercion returns; others still go to Typer."""
    import typer.main
    from typer._coercion import build_runtime_param

    from mlops_cli import plain_params
    from mlops_cli.app import app

    group = typer.main.get_command(app)
    ctx = group.make_context("mlops", ["--help"], resilient_parsing=True)
    plain_params.install(group, ctx)
    samples = {str: ["x", "", "über -1"], bool: [True, False], list[str]: [("a", "b"), ["c"], ()]}
    checked = 0

    def walk(command):
        nonlocal checked
        for param in [*command.params, command.get_help_option(ctx)]:
            ours = param.get_runtime_param()
            if not isinstance(ours, plain_params.PlainOrTyper):
                assert param.type_descriptor.annotation not in samples or param.type_descriptor.is_path, param.name
                continue
            typers = build_runtime_param(param.type_descriptor)
            for value in samples[param.type_descriptor.annotation]:
                assert ours.coerce(value, param, ctx) == typers.coerce(value, param, ctx), (param.name, value)
                checked += 1
            if param.type_descriptor.annotation is bool:  # not plain: Typer's coercion decides
                assert ours.coerce("yes", param, ctx) is typers.coerce("yes", param, ctx) is True
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(group)
    assert checked > 100


def _command_paths(command, path=()):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not sub.hidden:
            yield from _command_paths(sub, (*path, name))


PYTHON_TYPE_METAVAR = re.compile(r"<(?:str|int|float|bool|path|file|datetime|\w+ range|list\[[^\]]*\])>")


def test_help_names_values_in_words_not_python_types(mlops, monkeypatch):
    """Metavars say what a value is (NAME, N, S3_URI, COMMAND), never Typer's `<str>`, `<int range>`,
    `<list[str]>` or `<path>`. In the plain help users get (app.py turns rich help off)."""
    import typer.core
    import typer.main

    from mlops_cli.app import app

    monkeypatch.setattr(typer.core, "HAS_RICH", False)

    paths = list(_command_paths(typer.main.get_command(app)))
    assert len(paths) > 20
    wrong = {}
    for path in paths:
        result = mlops(*path, "--help", config=None, env={"COLUMNS": "200"})
        assert result.exit_code == 0, path
        if found := PYTHON_TYPE_METAVAR.findall(result.output):
            wrong[" ".join(path)] = found
    assert not wrong, wrong


@pytest.mark.parametrize("command", [["train"], ["tune"], ["train-ec2"], ["deploy"]])
def test_launchers_wait_by_default(mlops, monkeypatch, command):
    """A launch is followed to its end unless --no-wait (train-ec2 used to return at once)."""
    import typer.core

    monkeypatch.setattr(typer.core, "HAS_RICH", False)
    help_text = " ".join(mlops(*command, "--help", config=None, env={"COLUMNS": "200"}).output.split())
    assert re.search(r"--wait / --no-wait .*?\[default: wait\]", help_text), help_text
