"""What the local AWS runs acts with the role it was given: a training job's code may read its channels and write
its outputs under the project's generated training role and is refused the rest (rewriting the code prefix); a
Lambda function whose role lacks sagemaker:InvokeEndpoint makes `mlops lambda invoke` fail with AWS's error."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from tests.helpers import LOCAL_CONFIG, run_script_job, tar_gz

pytestmark = pytest.mark.integration
ACCOUNT = "123456789012"
PROJECT = "roles"
TRY = """
import json, os, sys
import boto3
from botocore.exceptions import ClientError

def attempt(call):
    try:
        call()
        return "ok"
    except ClientError as exc:
        return exc.response["Error"]["Code"] + ": " + exc.response["Error"]["Message"]

s3 = boto3.client("s3")
arguments = dict(zip(sys.argv[1::2], sys.argv[2::2]))  # hyperparameters: --bucket B --prefix P
bucket, prefix = arguments["--bucket"], arguments["--prefix"]
results = {
    "read channel": attempt(lambda: s3.get_object(Bucket=bucket, Key=f"{prefix}/data/one.txt")),
    "write output": attempt(lambda: s3.put_object(Bucket=bucket, Key=f"{prefix}/models/extra.txt", Body=b"1")),
    "write code": attempt(lambda: s3.put_object(Bucket=bucket, Key=f"{prefix}/code/source.tar.gz", Body=b"x")),
}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "results.json"), "w") as out:
    json.dump(results, out)
"""


def test_a_job_is_refused_writes_outside_what_its_generated_role_allows(local_aws, boto_client):
    from mlops_cli.config import load_config
    from mlops_cli.services.iam.policies import assume_role_policy, sagemaker_execution_policy

    config = load_config([str(LOCAL_CONFIG)], env={"MLOPS_PROJECT": PROJECT, "MLOPS_S3__PREFIX": PROJECT})
    bucket, s3, iam, sagemaker = config.s3.bucket, boto_client("s3"), boto_client("iam"), boto_client("sagemaker")
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    source = tar_gz({"try.py": TRY})
    s3.put_object(Bucket=bucket, Key=f"{PROJECT}/code/source.tar.gz", Body=source)
    s3.put_object(Bucket=bucket, Key=f"{PROJECT}/data/one.txt", Body=b"1")
    role = iam.create_role(
        RoleName=f"{PROJECT}-training",
        AssumeRolePolicyDocument=json.dumps(assume_role_policy("sagemaker.amazonaws.com")),
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=f"{PROJECT}-training",
        PolicyName="generated",
        PolicyDocument=json.dumps(sagemaker_execution_policy(config, ACCOUNT)),
    )
    described = run_script_job(
        sagemaker, f"{PROJECT}-try", role, bucket, f"{PROJECT}/", "try.py", {"bucket": bucket, "prefix": PROJECT}
    )
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    archive = s3.get_object(Bucket=bucket, Key=f"{PROJECT}/output/{PROJECT}-try/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        results = json.load(tar.extractfile("results.json"))
    assert results["read channel"] == "ok" and results["write output"] == "ok", results
    assert results["write code"] == (
        f"AccessDenied: User: arn:aws:sts::{ACCOUNT}:assumed-role/{PROJECT}-training/{PROJECT}-try is not authorized "
        f"to perform: s3:PutObject on resource: arn:aws:s3:::{bucket}/{PROJECT}/code/source.tar.gz because no "
        "identity-based policy allows the s3:PutObject action"
    )
    assert s3.get_object(Bucket=bucket, Key=f"{PROJECT}/code/source.tar.gz")["Body"].read() == source


def test_lambda_invoke_fails_with_aws_s_error_when_the_function_s_role_cannot_invoke(mlops, local_aws, boto_client):
    # The project's endpoint does not exist: with its generated role the function reaches SageMaker and gets "not
    # found"; without sagemaker:InvokeEndpoint in the role, SageMaker refuses it before looking (as AWS does).
    env = {"MLOPS_PROJECT": "lambdarole"}
    assert mlops("lambda", "deploy", env=env).exit_code == 0
    allowed = mlops("lambda", "invoke", "--url", "https://example.com/x.jpg", env=env)
    assert allowed.exit_code == 1 and "not authorized" not in allowed.output, allowed.output
    iam, role = boto_client("iam"), "lambdarole-lambda-invoke"
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    document["Statement"] = [s for s in document["Statement"] if "sagemaker:InvokeEndpoint" not in s["Action"]]
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    refused = mlops("lambda", "invoke", "--url", "https://example.com/x.jpg", env=env)
    assert refused.exit_code == 1, refused.output
    # The function passes SageMaker's error on with its ARNs redacted (mlops_cli/lambda_function).
    assert "AccessDeniedException: User: <arn> is not authorized to perform: sagemaker:InvokeEndpoint" in refused.output
    assert mlops("teardown", "--lambda", "--yes", env=env).exit_code == 0
