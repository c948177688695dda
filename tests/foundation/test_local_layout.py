"""The local AWS stands apart from the client it emulates AWS for: it imports nothing of the CLI's own code (a bug
shared by both sides would pass unnoticed), and only moto_compat reaches into moto."""

from __future__ import annotations

import ast
from pathlib import Path

import mlops_cli.local

LOCAL = Path(mlops_cli.local.__file__).parent
# The manager is what the CLI calls to start and stop the local AWS: it fails with the CLI's error types.
NEUTRAL = {"mlops_cli.errors": {"core/manager.py", "iam/identities.py"}}
# What both sides read the same way (log lines, metrics, parameter ranges, S3 URIs, IAM's checks); it imports
# nothing of either side (test_the_neutral_package_imports_neither_side).
COMMON = "mlops_cli.common"


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            found.extend([node.module] + [f"{node.module}.{alias.name}" for alias in node.names])
    return found


def test_the_local_aws_imports_nothing_client_side_and_moto_only_through_moto_compat():
    files = sorted(LOCAL.rglob("*.py"))
    assert len(files) > 20
    wrong = []
    for path in files:
        name = path.relative_to(LOCAL).as_posix()
        for module in imports(path):
            root = module.split(".")[0]
            if root == "mlops_cli" and module != "mlops_cli" and not module.startswith(("mlops_cli.local", COMMON)):
                if not any(
                    module.split(".")[:2] == neutral.split(".") for neutral in NEUTRAL if name in NEUTRAL[neutral]
                ):
                    wrong.append(f"{name}: {module}")
            if root == "moto" and name != "moto_compat.py":
                wrong.append(f"{name}: {module}")
    assert not wrong, "\n".join(wrong)


def test_the_neutral_package_imports_neither_side():
    common = LOCAL.parent / "common"
    files = sorted(common.rglob("*.py"))
    assert len(files) > 3
    wrong = [
        f"{path.name}: {module}"
        for path in files
        for module in imports(path)
        if module.split(".")[0] in ("mlops_cli", "moto", "boto3", "botocore") and not module.startswith(COMMON)
    ]
    assert not wrong, "\n".join(wrong)


def test_every_emulated_service_registers_its_routes_one_way():
    from mlops_cli.local.core.server import SERVICES

    for service in SERVICES:
        source = (LOCAL / service / "routes.py").read_text()
        assert "def register(hooks: Hooks, context: ServerContext) -> None:" in source
    for path in LOCAL.rglob("*.py"):
        if path.name != "routes.py" and path.parent.name != "core":
            text = path.read_text()
            assert "hooks.operation(" not in text and "hooks.route(" not in text, path


MAX_LINES = 500  # past this a module mixes jobs: state, request handling and process control belong apart


def test_modules_stay_small_and_request_handling_starts_no_processes():
    long = [
        f"{path.relative_to(LOCAL)}: {count} lines"
        for path in sorted(LOCAL.rglob("*.py"))
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert not long, "\n".join(long)
    requests = sorted(LOCAL.rglob("*_requests.py"))
    runners = sorted(LOCAL.rglob("*_runner.py"))
    assert requests and runners
    for path in requests:  # processes are started by a runner, never while parsing and answering a request
        assert not {"subprocess", "multiprocessing"} & set(imports(path)), path
    for path in runners:  # and a runner answers no request itself
        assert "mlops_cli.local.core.server.LocalResponse" not in imports(path), path
