"""Fixtures for the Lambda tests: the handler loaded fresh against the local AWS, a project per test."""

from __future__ import annotations

import itertools
from types import ModuleType

import pytest
from lambda_helpers import MISSING_ENDPOINT, load_handler

_projects = itertools.count(1)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch, local_aws: str) -> ModuleType:
    """The handler, configured for an endpoint that does not exist in the local AWS."""
    return load_handler(monkeypatch, local_aws, MISSING_ENDPOINT)


@pytest.fixture
def project() -> str:
    """A project name of its own, so a test's role, function and endpoint names are its own."""
    return f"lt{next(_projects)}"


@pytest.fixture
def project_env(project: str) -> dict[str, str]:
    return {"MLOPS_PROJECT": project}
