"""Commands stay thin: they parse flags, call a use case and render. AWS is reached through use cases and services
(no command imports boto3 or asks for a client), and plans are shown (`--dry-run`) and run in one place,
commands/_common.run, so what a dry run prints is what runs."""

from __future__ import annotations

import ast
from pathlib import Path

import mlops_cli.commands

COMMANDS = Path(mlops_cli.commands.__file__).parent
THE_ONE_RUNNER = "_common.py"
AWS_LIBRARIES = {"boto3", "botocore", "s3transfer"}


def _modules() -> dict[str, ast.Module]:
    modules = {path.name: ast.parse(path.read_text(), str(path)) for path in sorted(COMMANDS.glob("*.py"))}
    assert len(modules) > 10 and THE_ONE_RUNNER in modules
    return modules


def _imported(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _called_methods(tree: ast.Module) -> set[str]:
    return {
        node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }


def test_no_command_imports_an_aws_library():
    wrong = [
        f"{name}: {module}"
        for name, tree in _modules().items()
        for module in _imported(tree)
        if module.split(".")[0] in AWS_LIBRARIES
    ]
    assert not wrong, "\n".join(wrong)


def test_commands_ask_no_client_for_aws():
    calling = {name for name, tree in _modules().items() if {"client", "load_client"} & _called_methods(tree)} - {
        THE_ONE_RUNNER
    }
    assert not calling, f"a command reaches AWS itself: {sorted(calling)}"


def test_plans_are_shown_and_run_only_by_the_one_runner():
    """No command builds, shows or executes a plan itself: it gets a Planned from a use case and hands it to run."""
    wrong = []
    for name, tree in _modules().items():
        if name == THE_ONE_RUNNER:
            continue
        wrong.extend(f"{name}: imports {module}" for module in _imported(tree) if module.startswith("mlops_cli.plan"))
        if "plan" in _called_methods(tree):
            wrong.append(f"{name}: shows a plan (out.plan) itself")
    assert not wrong, "\n".join(wrong)
