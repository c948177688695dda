"""A plan for people (Terraform-like lines and a summary) and for machines (the exact requests, refs shown as
placeholders the service model accepts and listed under `refs`)."""

from __future__ import annotations

import json

from mlops_cli.local.core.validate import check_params
from mlops_cli.plan import Plan, Ref, Retry, Waiter
from mlops_cli.render import Output
from mlops_cli.render.plan import show


def sample_plan() -> Plan:
    plan = Plan("deploy Lambda function f (alias live)")
    plan.add("iam", "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": "{}"}, "trust", name="role")
    plan.add(
        "lambda",
        "UpdateFunctionConfiguration",
        {"FunctionName": "f", "Role": Ref("role", "Role", "Arn", placeholder="arn:aws:iam::123456789012:role/r")},
        retry=Retry(lambda _exc: False, 90, "the new role is not assumable yet"),
        wait=Waiter("function_updated_v2", {"FunctionName": "f"}, "lambda"),
    )
    plan.add("iam", "DeleteRolePolicy", {"RoleName": "r", "PolicyName": "everything"})
    plan.add("lambda", "PublishVersion", {"FunctionName": "f"}, name="version")
    plan.add(
        "lambda",
        "CreateAlias",
        {"FunctionName": "f", "Name": "live", "FunctionVersion": Ref("version", "Version", placeholder="0")},
    )
    return plan


def test_table_mode_shows_one_line_per_step_and_a_summary(capsys):
    show(Output("table"), sample_plan())
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0] == "deploy Lambda function f (alias live) (dry run: nothing is sent)"
    assert lines[1].startswith("  + iam CreateRole  r  # trust")
    assert lines[2] == "  ~ lambda UpdateFunctionConfiguration  f"
    assert "Role = (known after role.Role.Arn)" in lines[3]
    assert "retries while" in text and "waits: lambda function_updated_v2" in text
    assert "  - iam DeleteRolePolicy  r everything" in text
    assert "  + lambda CreateAlias  f live" in text
    assert lines[-1] == "Plan: 3 to create, 1 to update, 1 to delete."


def test_json_mode_keeps_the_exact_requests_with_valid_placeholders(capsys):
    show(Output("json"), sample_plan())
    shown = json.loads(capsys.readouterr().out)
    assert shown["dry_run"] is True and shown["plan"].startswith("deploy Lambda")
    alias = shown["steps"][-1]
    assert alias["params"]["FunctionVersion"] == "0" and alias["refs"] == {"FunctionVersion": "version.Version"}
    assert check_params("lambda", "CreateAlias", alias["params"]) == []
    assert {"service", "operation", "params"} <= set(shown["steps"][0]) and shown["steps"][0]["note"] == "trust"


def test_plans_list_what_they_need_permission_for():
    assert sample_plan().operations()[:2] == [
        ("iam", "CreateRole", "r"),
        ("lambda", "UpdateFunctionConfiguration", "f"),
    ]


def test_the_dry_run_walks_the_executors_loop_and_sends_nothing():
    """DisplayOnlyExecutor replaces only what is done with each step: the loop is the executor's, so a dry run
    visits the steps a real run sends, in its order; asking for a client would fail it."""
    from mlops_cli.plan import DisplayOnlyExecutor, Executor, Unless

    assert DisplayOnlyExecutor.execute is Executor.execute
    plan = sample_plan()
    # A real run asks S3 whether to skip this step; the dry run must not (it would reach AWS).
    uploaded = Unless(lambda client_for: client_for("s3").head_object(), "uploaded", (("s3", "HeadObject"),))
    plan.add("s3", "PutObject", {"Bucket": "b", "Key": "k"}, unless=uploaded)
    display = DisplayOnlyExecutor()
    shown = display.show(plan)
    assert [(step["service"], step["operation"]) for step in shown["steps"]] == [
        (step.service, step.operation) for step in plan.steps
    ]
    assert shown["steps"] == display.requests and display.requests[1]["params"]["Role"].endswith(":role/r")
