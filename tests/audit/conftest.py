"""Fixtures for the audit tests: an account builder and a runner for `mlops audit-iam --input`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .builders import Account


@pytest.fixture
def account() -> Account:
    return Account()


@pytest.fixture
def audit(mlops, tmp_path):
    """Audit an Account (or a file) through the CLI; returns (exit code, JSON report or None, stderr)."""

    def run(source: Account | Path, *args: str, config: Path | None = None, env: dict | None = None):
        path = source if isinstance(source, Path) else source.write(tmp_path / "account.json")
        kwargs = {"config": config} if config else {}
        result = mlops("audit-iam", "--input", str(path), "-f", "json", *args, env=env, **kwargs)
        report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
        return result.exit_code, report, result.stderr

    return run
