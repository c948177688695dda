"""`--dry-run` shows what runs: the requests of a dry-run plan are, in order and parameter for parameter, the
changes the local AWS receives when the same command runs for real (refs compared as "some value": their
placeholders stand for what AWS answers at run time). The requests are captured on the CLI side through
botocore's event hooks (`before-parameter-build`), the way every boto3 call goes out."""

from __future__ import annotations

import itertools
import json

import pytest

READS = ("Describe", "Get", "List", "Head")
_projects = itertools.count(1)


@pytest.fixture
def sent(monkeypatch):
    """Every (service, operation, params) the CLI's boto3 clients send, in order."""
    from mlops_cli.aws import AwsClients

    calls: list[tuple[str, str, dict]] = []
    made = AwsClients.client

    def client(self, service, **_options):
        new = service not in self._clients
        made_client = made(self, service, **_options)
        if new:

            def record(params, model, **_kwargs):
                calls.append((model.service_model.service_name, model.name, dict(params)))

            made_client.meta.events.register("before-parameter-build", record)
        return made_client

    monkeypatch.setattr(AwsClients, "client", client)
    return calls


def comparable(value, refs: set[str], path: str = ""):
    """`value` as JSON shows it, with the parameters at the paths of refs replaced by a marker."""
    if path.rstrip(".") in refs:
        return "<ref>"
    if isinstance(value, dict):
        return {key: comparable(item, refs, f"{path}{key}.") for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item, refs, f"{path}{index}.") for index, item in enumerate(value)]
    return json.loads(json.dumps(value, default=str))


def changes(calls) -> list[tuple[str, str, dict]]:
    return [(service, operation, params) for service, operation, params in calls if not operation.startswith(READS)]


# In this order, in one project: each runs first as a dry run, then for real.
COMMANDS = [
    (["lambda", "deploy"], []),
    (["concurrency", "set", "--reserved", "5", "--provisioned", "1"], []),
    (["teardown", "--lambda"], ["--yes"]),
]


def test_dry_run_plans_are_the_requests_real_runs_send(mlops, local_aws, sent):
    env = {"MLOPS_PROJECT": f"plan-is-run{next(_projects)}"}
    for command, confirm in COMMANDS:
        assert_dry_run_is_what_runs(mlops, sent, command, confirm, env)


def test_upload_plan_is_the_requests_it_sends(mlops, local_aws, sent, tmp_path):
    """The s3sync plan (CreateBucket, a PutObject per file) is what the transfers send; one transfer at a time
    keeps their order the plan's."""
    for split, name in (("train", "a.png"), ("train", "b.png"), ("valid", "c.png")):
        (tmp_path / split).mkdir(exist_ok=True)
        (tmp_path / split / name).write_bytes(b"\x89PNG\r\n\x1a\n" + name.encode() * 32)
    bucket = f"plan-is-run-upload{next(_projects)}"
    command = ["data", "upload", str(tmp_path), "--to", f"s3://{bucket}/data", "--jobs", "1"]
    assert_dry_run_is_what_runs(mlops, sent, command, [], {})


def assert_dry_run_is_what_runs(mlops, sent, command, confirm, env) -> None:
    del sent[:]
    shown = mlops("-o", "json", *command, "--dry-run", env=env)
    assert shown.exit_code == 0, shown.output
    assert not changes(sent), f"a dry run of {command} sent a change"
    planned = [step for step in json.loads(shown.stdout)["steps"] if not step["operation"].startswith(READS)]
    assert planned, f"{command}: a plan with no change checks nothing"

    del sent[:]
    ran = mlops("-o", "json", *command, *confirm, env=env)
    assert ran.exit_code == 0, ran.output
    received = changes(sent)
    assert [(s, o) for s, o, _ in received] == [(step["service"], step["operation"]) for step in planned], command
    for step, (_, _, params) in zip(planned, received, strict=True):
        refs = set(step.get("refs", {}))
        if "Body" not in step["params"]:  # a plan lists an upload's request, not the bytes it carries
            params = {key: value for key, value in params.items() if key != "Body"}
        assert comparable(params, refs) == comparable(step["params"], refs), (command, step["operation"])
