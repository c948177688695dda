"""The packages whose internals the local AWS reaches into, checked before it serves.

moto (its backends, routing, parsers and pickled state: the local/moto_compat/ package) and the SageMaker serving
toolkit (local/sagemaker/model_server.py) change their internals in patch releases, so the project pins them exactly
in its `local` extra. The pins are read back from the installed project's own metadata, the one place they are
written (pyproject.toml), so this check cannot drift from what `make` installs.
"""

from __future__ import annotations

import re
from importlib import metadata

SEAM = ("moto", "sagemaker-inference")
FIX = "run `make setup`, or `pip install -r requirements/local.lock`"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def supported() -> dict[str, str]:
    """{package: the exact version the project pins} for the seam's packages (empty when the project's metadata
    is not installed, e.g. run from a bare source tree: nothing to compare with)."""
    try:
        requirements = metadata.requires("mlops") or []
    except metadata.PackageNotFoundError:
        return {}
    pins = {}
    for requirement in requirements:
        found = re.match(r"\s*([A-Za-z0-9._-]+)(?:\[[^\]]*\])?\s*==\s*([^\s;,]+)", requirement)
        if found and _canonical(found[1]) in SEAM:
            pins[_canonical(found[1])] = found[2]
    return pins


def installed() -> dict[str, str | None]:
    """{package: the installed version, or None} for the seam's packages."""
    found: dict[str, str | None] = {}
    for name in SEAM:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def mismatch() -> str | None:
    """One line naming the first seam package whose installed version is not the supported one, or None."""
    have = installed()
    for name, version in supported().items():
        if have.get(name) != version:
            found = f"{name} {have[name]} is installed" if have.get(name) else f"{name} is not installed"
            return f"{found}; the local AWS supports {name}=={version} only (it uses {name}'s internals): {FIX}"
    return None


def stamp() -> dict[str, str | None]:
    """What saved state records of the code that wrote it: mlops and the seam's versions."""
    import mlops_cli

    return {"mlops": mlops_cli.__version__, **installed()}
