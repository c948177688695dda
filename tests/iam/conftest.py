"""A fresh local AWS (its own account state) and local IAM users that hold exactly what `mlops config permissions`
prints for one command: the commands then run as those users, and the local AWS evaluates every call."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers import LOCAL_CONFIG, local_aws_server, local_client

ACCOUNT = "123456789012"
# Longer than the 19 characters `tune` keeps of a project name (tuning job names have 32 at most).
PROJECT = "least-privilege-proof"


@pytest.fixture(scope="module")
def fresh_aws(mlops_home: Path) -> Iterator[str]:
    """A local AWS of its own (nothing in its account yet), under the session's MLOPS_HOME; the module's commands
    run against it. Not the session's: there the bucket, roles and jobs other tests made would spare the commands
    their create paths, and the printed policies would be proven on less than a new account needs."""
    with local_aws_server({"MLOPS_LOCAL__TIME_SCALE": "1"}) as url:
        yield url


def policy_for(url: str, *command: str, env: dict | None = None) -> dict:
    """What `mlops config permissions COMMAND` prints for the project (as the root of the fresh account)."""
    from mlops_cli.app import app

    result = CliRunner().invoke(
        app,
        ["-c", str(LOCAL_CONFIG), "-o", "json", "config", "permissions", *command, "--account", ACCOUNT],
        env={"MLOPS_AWS__ENDPOINT_URL": url, "MLOPS_PROJECT": PROJECT, **(env or {})},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def holding(url: str, name: str, document: dict) -> dict[str, str]:
    """The environment of a shell acting as local IAM user `name` (made if missing) holding exactly `document`
    (its one managed policy, replaced): what `eval "$(mlops local env --user NAME)"` sets."""
    iam = local_client(url, "iam")
    try:
        iam.create_user(UserName=name)
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    policy_arn = f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    for attached in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=name, PolicyArn=attached["PolicyArn"])
    try:
        iam.delete_policy(PolicyArn=policy_arn)
    except iam.exceptions.NoSuchEntityException:
        pass
    iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))
    iam.attach_user_policy(UserName=name, PolicyArn=policy_arn)
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    for key in keys:
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    made = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "MLOPS_AWS__ENDPOINT_URL": url,
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": made["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": made["SecretAccessKey"],
        "MLOPS_PROJECT": PROJECT,
    }


@pytest.fixture(scope="module")
def run_as() -> Callable[..., object]:
    """run_as(url, user, policy_document, *args) -> the CLI's result, run as local IAM user `user` holding exactly
    that policy."""
    from mlops_cli.app import app

    def invoke(url: str, user: str, document: dict, *args: str, env: dict | None = None):
        variables = {**holding(url, user, document), **(env or {})}
        return CliRunner().invoke(app, ["-c", str(LOCAL_CONFIG), *args], env=variables, catch_exceptions=False)

    return invoke
