"""`mlops status` as a user who may read some of the project but not all: the readable sections are printed, an
unreadable one is null in JSON (never [], which a CI check reads as "none") and said so in the table, and the
command exits 1 with one line naming what could not be read."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from tests.helpers import local_client
from tests.iam.conftest import PROJECT, policy_for

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
    iam, lam = local_client(fresh_aws, "iam"), local_client(fresh_aws, "lambda")
    role = iam.create_role(
        RoleName=f"{PROJECT}-status-fn-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    name = f"{PROJECT}-status-fn"
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": package.getvalue()},
    )
    try:
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
    finally:
        lam.delete_function(FunctionName=name)
        iam.delete_role(RoleName=f"{PROJECT}-status-fn-role")
