"""Commands stay thin: they parse flags, call a use case and render. AWS is reached through use cases and services
(no command imports boto3 or a service, or asks for a client), and plans are shown (`--dry-run`) and run in one
place, commands/_common.run, so what a dry run prints is what runs. A command's flow (its `Planned`: the plan, how
its answers become the result, what Ctrl-C says) is assembled in usecases/ only; services hold the AWS knowledge."""

from __future__ import annotations

import ast
from pathlib import Path

import mlops_cli
import mlops_cli.commands

PACKAGE = Path(mlops_cli.__file__).parent
COMMANDS = Path(mlops_cli.commands.__file__).parent
THE_ONE_RUNNER = "_common.py"
AWS_LIBRARIES = {"boto3", "botocore", "s3transfer"}
SERVICES = "mlops_cli.services"
# Where a Planned may be built: the use cases, and plan/ (which defines it).
PLANNED_BUILDERS = ("usecases", "plan")


def _modules(folder: Path = COMMANDS) -> dict[str, ast.Module]:
    modules = {path.name: ast.parse(path.read_text(), str(path)) for path in sorted(folder.glob("*.py"))}
    if folder == COMMANDS:
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


def services_imported(modules: dict[str, ast.Module]) -> list[str]:
    """`name: module` for every import of the services by a command (at module level or in a function)."""
    return [
        f"{name}: {module}"
        for name, tree in modules.items()
        for module in sorted(_imported(tree))
        if module == SERVICES or module.startswith(SERVICES + ".")
    ]


def planned_built_outside_usecases(root: Path) -> list[str]:
    """`file:line` of every `Planned(...)` call in the package at `root` outside usecases/ and plan/."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).parts[0] in PLANNED_BUILDERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if called == "Planned":
                    found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_no_command_reaches_a_service():
    """Every command calls a use case; none calls a service itself (the use case is the one way in)."""
    wrong = services_imported(_modules())
    assert not wrong, "\n".join(wrong)


def test_only_use_cases_build_a_planned():
    """A command's flow (plan, result, Ctrl-C's message) is assembled in one layer: services build plans as data
    and parse answers, never a Planned."""
    wrong = planned_built_outside_usecases(PACKAGE)
    assert not wrong, "\n".join(wrong)


def test_the_layer_checks_catch_a_violation(tmp_path: Path):
    """The two checks above fail on a tree that breaks them (so their passing on the real one means something)."""
    commands = tmp_path / "commands"
    commands.mkdir()
    (commands / "good.py").write_text("def f():\n    from mlops_cli.usecases.x import planned_x\n")
    (commands / "bad.py").write_text("def f():\n    from mlops_cli.services.deploy import endpoint\n")
    (commands / "worse.py").write_text("import mlops_cli.services\n")
    assert services_imported(_modules(commands)) == [
        "bad.py: mlops_cli.services.deploy",
        "worse.py: mlops_cli.services",
    ]

    for folder, text in {
        "usecases/deploy.py": "def f(plan):\n    return Planned(plan, finish=None)\n",
        "plan/planned.py": "class Planned: ...\nPlanned(None, None)\n",
        "services/deploy/endpoint.py": "import x\n\ndef f(plan):\n    return x.Planned(plan, None)\n",
        "commands/deploy.py": "def f(plan):\n    planned = Planned(plan, None)\n",
    }.items():
        path = tmp_path / "pkg" / folder
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert planned_built_outside_usecases(tmp_path / "pkg") == ["commands/deploy.py:2", "services/deploy/endpoint.py:4"]
