"""`mlops status` as a user who may read some of the project but not all: the readable sections are printed, an
unreadable one is null in JSON (never [], which a CI check reads as "none") and said so in the table, and the
command exits 1 with one line naming what could not be read."""

from __future__ import annotations

import json

import pytest

from tests.helpers import local_client
from tests.iam.conftest import PROJECT, policy_for
from tests.ops.conftest import python_function

pytestmark = pytest.mark.integration


def without(document: dict, action: str) -> dict:
    """The policy with `action` taken out of every statement that allows it."""
    statements = []
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        kept = [a for a in actions if a != action]
        if kept:
            statements.append({**statement, "Action": kept})
    return {**document, "Statement": statements}


def test_status_without_list_functions_shows_the_rest_and_exits_1(fresh_aws, run_as):
    def client(service: str):
        return local_client(fresh_aws, service)

    with python_function(client, f"{PROJECT}-status-fn", "handler", "def handler(event, context):\n    return {}\n"):
        document = without(policy_for(fresh_aws, "status"), "lambda:ListFunctions")
        result = run_as(fresh_aws, "status-no-functions", document, "-o", "json", "status")
        assert result.exit_code == 1, result.output
        found = json.loads(result.stdout)
        assert found["functions"] is None  # unknown, not "none"
        assert found["endpoints"] == [] and found["training_jobs"] == []  # the readable sections, read
        assert [problem["kind"] for problem in found["unreadable"]] == ["functions"]
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: status is incomplete: could not read functions") and "ListFunctions" in line
        table = run_as(fresh_aws, "status-no-functions", document, "status")
        assert table.exit_code == 1 and "Lambda functions: could not be read" in table.stdout
        assert "endpoints cost about 0.000 USD/hour" in table.stdout  # the endpoints were read: none
