#!/usr/bin/env bash
# The main job, end to end, on the embedded local AWS (no account, no Docker).
set -euo pipefail
export MLOPS_CONFIG="${MLOPS_CONFIG:-configs/local.yaml}"
export MLOPS_HOME="${MLOPS_HOME:-$PWD/.mlops}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }
trap 'mlops local down >/dev/null 2>&1 || true' EXIT

step "start the local AWS";      mlops local up
step "write the sample data";    mlops data sample
step "upload it to S3";          mlops data upload
