"""The client's folders depend one way: commands -> use cases -> services -> plan -> aws -> config, each importing
only what lies below it (rendering beside the use cases, the neutral mlops_cli/common at the bottom), and no module
imports itself back through others. Computed from the real files' imports, read with `ast`: at module level, inside
functions and under TYPE_CHECKING alike, since each is a dependency a reader has to follow. The local AWS's own
rule (it imports nothing client-side but the neutral package) is tests/foundation/test_local_layout.py's."""

from __future__ import annotations

import ast
import functools
import graphlib
from pathlib import Path

import mlops_cli

PACKAGE = Path(mlops_cli.__file__).parent
# Top-level folder or module of mlops_cli -> its rank: a module may import only what ranks strictly higher (lower
# down), or its own folder. Two folders of one rank do not import each other (use cases never render).
RANKS = {
    "__main__": 0,
    "app": 1,
    "commands": 2,
    "state": 3,  # what a command holds: output, config, clients
    "usecases": 4,
    "render": 4,
    "services": 5,
    "plan": 6,
    "aws": 7,
    "aws_offline": 8,  # answers a dry run's reads when AWS cannot be reached
    "config": 9,
    "documents": 10,
    "files": 10,
    "plain_params": 10,
    "errors": 11,
    "common": 12,
    "lambda_function": 12,  # the Lambda function's code: its package is handler.py alone
}
# The embedded AWS the client starts and signs for (commands/local.py, aws.py, config/): outside the order, held
# apart by test_local_layout.py.
LOCAL = "local"


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at `root`."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


@functools.cache
def dependencies(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports. `from a.b import c` depends on a.b.c where that is a module,
    else on a.b; an imported name is followed to the longest module it lies in."""
    known = modules(root)

    def owner(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}".rstrip(".")
                for alias in node.names:
                    imported.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        graph[module] = {target for name in imported if (target := owner(name)) and target != module}
    return graph


def folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def back_edges(root: Path, ranks: dict[str, int]) -> list[str]:
    """Every import that goes up the order or sideways between folders, and every folder the order leaves out."""
    wrong = []
    for module, targets in sorted(dependencies(root).items()):
        source = folder(module)
        if source == LOCAL or module == root.name:
            continue
        if source not in ranks:
            wrong.append(f"{module}: folder '{source}' has no place in the order")
            continue
        for target in sorted(targets):
            into = folder(target)
            if into in (source, LOCAL) or target == root.name:
                continue
            if into not in ranks or ranks[into] <= ranks[source]:
                wrong.append(f"{module} -> {target}")
    return wrong


def cycle(root: Path) -> list[str] | None:
    """Modules that import each other, directly or through others (the first cycle found), or None."""
    try:
        tuple(graphlib.TopologicalSorter(dependencies(root)).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_the_client_folders_depend_one_way():
    assert len(dependencies(PACKAGE)) > 150
    wrong = back_edges(PACKAGE, RANKS)
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_itself_back():
    assert cycle(PACKAGE) is None, " -> ".join(cycle(PACKAGE) or [])


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_an_import_up_the_order_or_round_in_a_circle_is_found(tmp_path: Path):
    """The checks above fail on a violating tree (so their passing on the real one means something)."""
    ranks = {"commands": 1, "services": 3, "config": 6}
    clean = {
        "__init__.py": "",
        "commands/__init__.py": "",
        "commands/train.py": "from pkg.services import training\n",
        "services/__init__.py": "",
        "services/training.py": "def f():\n    from pkg.config.schema import Config\n",
        "config/__init__.py": "",
        "config/schema.py": "Config = dict\n",
    }
    assert back_edges(_tree(tmp_path / "clean", clean), ranks) == []
    assert cycle(tmp_path / "clean" / "pkg") is None

    upward = {
        **clean,
        "config/schema.py": "if TYPE_CHECKING:\n    from ..services import training\n",
    }
    assert back_edges(_tree(tmp_path / "upward", upward), ranks) == ["pkg.config.schema -> pkg.services.training"]
    assert set(cycle(tmp_path / "upward" / "pkg") or []) == {"pkg.config.schema", "pkg.services.training"}

    unplaced = {**clean, "extra.py": "from pkg.commands import train\n"}
    assert back_edges(_tree(tmp_path / "unplaced", unplaced), ranks) == [
        "pkg.extra: folder 'extra' has no place in the order"
    ]
