"""`mlops config permissions CMD` is exactly enough: on a fresh local account, each command runs as a local IAM
user holding only the policy printed for it, and the local AWS evaluates every call it makes (and every call AWS
makes on its behalf: tag-on-create, iam:PassRole, autoscaling's prerequisites, alarms). The project name is longer
than `tune` keeps, so a tuning trial's ARN is not `<project>-*`."""

from __future__ import annotations

import json

import pytest

from tests.iam.conftest import policy_for

# The commands run in order on one fresh account (its own local AWS): train's real job is what deploy serves.
pytestmark = [pytest.mark.integration, pytest.mark.training, pytest.mark.slow]

COMMANDS = [
    # (command as `config permissions` names it, the arguments it runs with)
    ("data upload", ["data", "upload", "{data}"]),
    ("train", ["-o", "json", "train", "--hp", "epochs=1"]),
    (
        "tune",
        [
            "-o",
            "json",
            "tune",
            "--strategy",
            "random",
            "--max-jobs",
            "1",
            "--parallel",
            "1",
            "--range",
            "lr=0.001:0.01:log",
            "--hp",
            "epochs=1",
        ],
    ),
    ("deploy", ["-o", "json", "deploy", "--autoscale", "max=2"]),
    ("autoscale", ["-o", "json", "autoscale", "--max", "3"]),
    ("lambda deploy", ["-o", "json", "lambda", "deploy"]),
    ("concurrency set", ["-o", "json", "concurrency", "set", "--reserved", "2", "--provisioned", "1"]),
    ("status", ["-o", "json", "status"]),
    ("teardown", ["-o", "json", "teardown", "--all", "--lambda", "--yes"]),
]


@pytest.mark.parametrize("command, args", COMMANDS, ids=[command for command, _ in COMMANDS])
def test_each_command_runs_with_exactly_its_printed_policy(fresh_aws, run_as, small_digits, command, args):
    document = policy_for(fresh_aws, command)
    user = "ci-" + command.replace(" ", "-")
    result = run_as(fresh_aws, user, document, *[a.format(data=small_digits) for a in args])
    assert result.exit_code == 0, f"{command} as {user}:\n{result.output[-3000:]}\n{json.dumps(document)[:3000]}"
