"""The lock files are the set CI tested: they must agree with pyproject.toml's ranges, with each other, and with
what is installed. A dependency added to pyproject.toml without `make lock`, or a venv that drifted from the lock
(a hand `pip install -U`), fails here, not on a user's fresh machine."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LOCKS = {"local": REPO / "requirements" / "local.lock", "test": REPO / "requirements" / "test.lock"}


def locked(path: Path) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", path.read_text(), flags=re.M)
    return {canonicalize_name(name): version for name, version in pins}


def requirements(extra: str) -> list[Requirement]:
    """pyproject.toml's requirements for `extra`, the base ones and those of `mlops[...]` self-references."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found: list[Requirement] = []
    pending, seen = [None, extra], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for line in project["dependencies"] if name is None else project["optional-dependencies"][name]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == "mlops":
                pending.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


@pytest.mark.parametrize("extra", sorted(LOCKS))
def test_every_requirement_is_locked_within_its_range(extra: str) -> None:
    pins = locked(LOCKS[extra])
    for requirement in requirements(extra):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {LOCKS[extra].name}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{LOCKS[extra].name} pins {name}=={pins[name]}, outside pyproject.toml's {requirement}: run `make lock`"
        )


def test_the_locks_agree_and_every_pin_has_hashes() -> None:
    local, test = locked(LOCKS["local"]), locked(LOCKS["test"])
    assert set(local) <= set(test)
    assert {name: test[name] for name in local} == local
    for path in LOCKS.values():
        text = path.read_text()
        assert "file://" not in text, f"{path.name} names a path on the machine that wrote it"
        pins = "\n".join(line for line in text.splitlines() if not line.startswith("#"))  # no header comments
        entries = re.split(r"\n(?=[A-Za-z0-9])", pins)
        unhashed = [entry.split()[0] for entry in entries if entry.strip() and "--hash=sha256:" not in entry]
        assert not unhashed, f"{path.name}: no hashes for {unhashed}"


def test_the_installed_versions_are_the_locks() -> None:
    drifted = {}
    for name, version in locked(LOCKS["test"]).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != version:
            drifted[name] = f"{installed} (lock: {version})"
    assert not drifted, f"this venv is not the lock's (rm -rf .venv && make setup): {drifted}"
