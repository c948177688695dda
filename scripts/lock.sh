#!/usr/bin/env bash
# `make lock`: resolve pyproject.toml's ranges into exact versions with hashes (pip-tools), the set CI tests.
# test.lock is the whole set (make test / make check); local.lock (make demo) is its subset for the `local` extra,
# resolved under test.lock so both agree. The project itself is installed afterwards with --no-deps, so its own
# line ("mlops @ file://<this folder>", which names a path on this machine) is taken out.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-.venv/bin}
compile() {
    "$bin/pip-compile" --quiet --strip-extras --allow-unsafe --generate-hashes --no-emit-index-url \
        --no-emit-find-links "$@" pyproject.toml
    "$bin/python" - "${@: -1}" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
# The self-reference block: pip-compile's warning, the "mlops @ file://..." line and its "via" comments.
text = re.sub(r"# WARNING: pip install will require.*?\nmlops @ file://[^\n]*\n(?:    #[^\n]*\n)*", "", text, flags=re.S)
open(path, "w").write(text)
PY
}
compile --extra test --output-file requirements/test.lock
compile --extra local --constraint requirements/test.lock --output-file requirements/local.lock
