#!/usr/bin/env bash
# `make deps-latest`: the newest releases pyproject.toml's ranges allow, with the exact pins of the packages whose
# internals the local AWS uses (moto, the serving toolkit) lifted to ">=", in a scratch venv; then the moto
# contract tests and the unit tier. Not part of CI: it tells the team of a breaking release the day it ships.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${DEPS_LATEST_VENV:-build/deps-latest}
python=${PYTHON:-python3.11}
"$python" -m venv --clear "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/python" - > "$venv/requirements-latest.txt" <<'PY'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
seam = ("moto", "sagemaker-inference")
lines = project["dependencies"] + [r for extra in ("local", "plot", "test") for r in project["optional-dependencies"][extra]]
for line in lines:
    if line.startswith("mlops["):
        continue
    name = re.match(r"[A-Za-z0-9._-]+", line)[0]
    print(line.replace("==", ">=") if name.lower() in seam else line)
PY
"$venv/bin/pip" install --upgrade --upgrade-strategy eager -r "$venv/requirements-latest.txt"
"$venv/bin/pip" install --quiet --no-deps -e .
echo "newer than the lock:"
"$venv/bin/python" - <<'PY'
import re
from importlib import metadata
locked = dict(re.findall(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", open("requirements/test.lock").read(), flags=re.M))
for name, version in sorted(locked.items()):
    try:
        found = metadata.version(name)
    except metadata.PackageNotFoundError:
        continue
    if found != version:
        print(f"  {name}: {version} -> {found}")
PY
status=0
"$venv/bin/python" -m pytest -q tests/foundation/test_moto_contract.py || status=1
"$venv/bin/python" -m pytest -q -m "not integration" --deselect tests/foundation/test_lock.py || status=1
exit $status
