"""Every statement `config permissions CMD` prints is needed: with any one removed, the command fails with exit 1
and its one error line names an action of that statement (the local AWS refused it as AWS would); the next run,
with the whole policy, completes what the failed one left. Each mutation starts from the same state (the root
undoes what the previous runs made), so every mutated run takes the same path.

Commands mutated here: the ones whose full run costs seconds (`data upload`, `lambda deploy`, `concurrency set`,
`autoscale` on the session's served endpoint); `train`, `tune` and `deploy` run in full with their exact
policy in test_least_privilege.py but are not mutated (a training per statement is minutes each)."""

from __future__ import annotations

import pytest

from tests.helpers import SERVED_ENDPOINT, SERVED_PROJECT, local_client
from tests.iam.conftest import policy_for

pytestmark = pytest.mark.integration
PROJECT = "mutation"


def without(document: dict, index: int) -> dict:
    return {**document, "Statement": [s for i, s in enumerate(document["Statement"]) if i != index]}


def actions(statement: dict) -> list[str]:
    found = statement["Action"]
    return [found] if isinstance(found, str) else found


def assert_each_statement_is_needed(url, run_as, command, args, env, reset):
    document = policy_for(url, command, env=env)
    user = "mutant-" + command.replace(" ", "-")
    for index, statement in enumerate(document["Statement"]):
        reset()
        result = run_as(url, user, without(document, index), *args, env=env)
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert result.exit_code == 1, f"{command} without {statement['Sid']} did not fail:\n{result.output[-2000:]}"
        assert len(errors) == 1 and any(a in errors[0] for a in actions(statement)), (statement, result.output)
        completed = run_as(url, user, document, *args, env=env)  # the next run, with the whole policy, completes it
        assert completed.exit_code == 0, f"{command} after a run without {statement['Sid']}:\n{completed.output}"


def root_mlops(mlops, env):
    return lambda *args: mlops(*args, env={**env, "AWS_ACCESS_KEY_ID": None, "AWS_ENDPOINT_URL": None})


def test_data_upload(local_aws, run_as, small_digits):
    env = {"MLOPS_PROJECT": PROJECT, "MLOPS_S3__BUCKET": "mutation-upload"}
    s3 = local_client(local_aws, "s3")

    def reset():
        try:
            keys = [{"Key": o["Key"]} for o in s3.list_objects_v2(Bucket="mutation-upload").get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket="mutation-upload", Delete={"Objects": keys})
            s3.delete_bucket(Bucket="mutation-upload")
        except s3.exceptions.NoSuchBucket:
            pass

    assert_each_statement_is_needed(local_aws, run_as, "data upload", ["data", "upload", str(small_digits)], env, reset)


def test_lambda_deploy_then_concurrency_set(local_aws, run_as, mlops):
    env = {"MLOPS_PROJECT": PROJECT}
    root = root_mlops(mlops, env)

    def no_function():
        assert root("teardown", "--lambda", "--yes").exit_code == 0

    assert_each_statement_is_needed(local_aws, run_as, "lambda deploy", ["lambda", "deploy"], env, no_function)

    def no_concurrency():
        assert root("concurrency", "set", "--clear").exit_code == 0

    args = ["concurrency", "set", "--reserved", "2", "--provisioned", "1"]
    assert_each_statement_is_needed(local_aws, run_as, "concurrency set", args, env, no_concurrency)
    no_function()


def test_autoscale(local_aws, run_as, mlops, served_model):
    # As the endpoint's own project: the autoscaling prerequisites are checked on its configuration, named after it.
    env = {
        "MLOPS_PROJECT": SERVED_PROJECT,
        "MLOPS_S3__PREFIX": SERVED_PROJECT,
        "MLOPS_DEPLOY__ENDPOINT_NAME": SERVED_ENDPOINT,
    }
    root = root_mlops(mlops, env)

    def unscaled():
        assert root("autoscale", "--off").exit_code == 0

    assert_each_statement_is_needed(local_aws, run_as, "autoscale", ["autoscale", "--max", "2"], env, unscaled)
    unscaled()
