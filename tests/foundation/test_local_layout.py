"""The local AWS stands apart from the client it emulates AWS for: it imports nothing of the CLI's own code (a bug
shared by both sides would pass unnoticed), and only the moto_compat package reaches into moto: no other module
imports moto, calls the raw backend getters of moto_compat/backends.py, or walks a moto backend's collections."""

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
            if root == "moto" and not name.startswith(SEAM):
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


SEAM = "moto_compat/"
# What only the seam may touch: the raw backend getters (moto_compat/backends.py) and the collections and helpers
# of moto's backends and records that the seam's typed accessors (moto_compat/records/) stand for (names that a
# boto3 client or the local AWS's own objects share, such as `policies` or `get_object`, are left out).
RAW_GETTERS = {"backend", "backends", "has_account", "locate", "lambda_backend", "get_backend"}
MOTO_INTERNALS = {
    "endpoints",
    "endpoint_configs",
    "training_jobs",
    "hyper_parameter_tuning_jobs",
    "transform_jobs",
    "_models",
    "_process_production_variants",
    "response_object",
    "list_models",
    "targets",
    "roles",
    "instance_profiles",
    "get_role_by_arn",
    "amis",
    "get_instance",
    "get_bucket",
    "mlops_trials",
    "mlops_tags",
    "mlops_scaling_activities",
}


def moto_reaches(source: str, filename: str) -> list[str]:
    """Where a module outside the seam reaches past its accessors: it imports moto or moto_compat's backends
    module (or a private name of the seam), calls a raw getter on moto_compat, or names a moto backend's
    collection (as an attribute, or through getattr/setattr)."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        line = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names if a.name.split(".")[0] == "moto"]
            found += [f"{line}: import {a.name}" for a in node.names if a.name.endswith("moto_compat.backends")]
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if module.split(".")[0] == "moto" or module.endswith("moto_compat.backends"):
                found.append(f"{line}: from {module} import ...")
            elif "moto_compat" in module.split("."):
                found += [
                    f"{line}: from {module} import {a.name}"
                    for a in node.names
                    if a.name in RAW_GETTERS | {"backends"} or a.name.startswith("_")
                ]
        elif isinstance(node, ast.Attribute):
            if node.attr in MOTO_INTERNALS:
                found.append(f"{line}: .{node.attr}")
            elif isinstance(node.value, ast.Name) and "moto_compat" in node.value.id and node.attr in RAW_GETTERS:
                found.append(f"{line}: {node.value.id}.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr"):
            names = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            found += [f"{line}: {node.func.id}(..., {n!r})" for n in names if n in MOTO_INTERNALS]
    return found


def test_only_the_moto_seam_reaches_moto_backends_and_records():
    outside = [path for path in sorted(LOCAL.rglob("*.py")) if not path.relative_to(LOCAL).as_posix().startswith(SEAM)]
    assert len(outside) > 20 and (LOCAL / SEAM / "backends.py").is_file()
    wrong = [reach for path in outside for reach in moto_reaches(path.read_text(), path.relative_to(LOCAL).as_posix())]
    assert not wrong, "reaching past moto_compat's typed accessors:\n" + "\n".join(wrong)


def test_the_seam_check_finds_each_way_of_reaching_past_it():
    reaches = {
        "from mlops_cli.local import moto_compat\nmoto_compat.backend('s3', a, 'aws').get_bucket(b)": 2,
        "from mlops_cli.local.moto_compat.backends import backend": 1,
        "import mlops_cli.local.moto_compat.backends": 1,
        "from moto.s3.models import FakeKey": 1,
        "import moto": 1,
        "from mlops_cli.local.moto_compat.records.sagemaker import _find": 1,
        "def f(backend):\n    return backend.training_jobs.get(name)": 1,
        "x = getattr(job, 'mlops_trials', [])": 1,
        "from mlops_cli.local.moto_compat.records import sagemaker as records\nrecords.endpoint(a, r, n)": 0,
    }
    for source, count in reaches.items():
        assert len(moto_reaches(source, "probe.py")) == count, (source, moto_reaches(source, "probe.py"))


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
