"""Only the user's own tools get into the local AWS: its own credentials, SigV4 checked, no web page (Origin),
no other host name (DNS rebinding), no CORS. Every refused request is checked to have created nothing, with a
properly signed client."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from mlops_cli.local.core import credentials

BIN = Path(sys.executable).parent


def bucket_exists(boto_client, name: str) -> bool:
    return any(bucket["Name"] == name for bucket in boto_client("s3").list_buckets()["Buckets"])


def object_exists(boto_client, bucket: str, key: str) -> bool:
    return "Contents" in boto_client("s3").list_objects_v2(Bucket=bucket, Prefix=key)


@pytest.fixture(scope="module")
def bucket(boto_client) -> str:
    name = f"front-door-{uuid.uuid4().hex[:8]}"
    boto_client("s3").create_bucket(Bucket=name)
    return name


def test_credentials_are_random_owner_only_and_not_the_old_fixed_ones(local_aws, local_env):
    file = credentials.path(local_aws)
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert local_env["AWS_ACCESS_KEY_ID"] not in ("mlops-local", "testing")
    assert len(local_env["AWS_SECRET_ACCESS_KEY"]) >= 40


@pytest.mark.parametrize(
    "keys",
    [("testing", "testing"), ("mlops-local", "mlops-local"), "right id, wrong secret", "unsigned"],
    ids=["moto-testing-keys", "old-fixed-keys", "wrong-secret", "unsigned"],
)
def test_wrongly_signed_requests_create_nothing(send, boto_client, local_env, bucket, keys):
    if keys == "right id, wrong secret":
        keys = (local_env["AWS_ACCESS_KEY_ID"], "x" * 40)
    name, key = f"refused-{uuid.uuid4().hex[:8]}", f"refused/{uuid.uuid4().hex[:8]}"
    created = send("PUT", f"/{name}", "s3", keys=keys)
    put = send("PUT", f"/{bucket}/{key}", "s3", body=b"payload", keys=keys)
    job = send(
        "POST",
        "/",
        "sagemaker",
        body=json.dumps({"TrainingJobName": name}).encode(),
        keys=keys,
        headers={"X-Amz-Target": "SageMaker.CreateTrainingJob", "Content-Type": "application/x-amz-json-1.1"},
    )
    for response in (created, put):
        assert response.status_code == 403 and response.headers["Content-Type"] == "application/xml"
        assert any(
            f"<Code>{code}</Code>" in response.text
            for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")
        )
    assert job.status_code == 403 and job.json()["__type"] in (
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
    )
    assert not bucket_exists(boto_client, name)
    assert not object_exists(boto_client, bucket, key)
    assert boto_client("sagemaker").list_training_jobs(NameContains=name)["TrainingJobSummaries"] == []


def test_json_and_query_protocols_get_their_own_error_shape(send):
    sts = send(
        "POST",
        "/",
        "sts",
        body=b"Action=GetCallerIdentity&Version=2011-06-15",
        keys=("testing", "testing"),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert sts.status_code == 403 and "<Code>InvalidClientTokenId</Code>" in sts.text and "<ErrorResponse>" in sts.text
    lam = send("GET", "/2015-03-31/functions", "lambda", keys="unsigned")
    assert lam.status_code == 403 and lam.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_presigned_urls_work_when_signed_and_not_when_tampered(local_aws, boto_client, bucket):
    import requests
    from botocore.config import Config

    boto_client("s3").put_object(Bucket=bucket, Key="shared.txt", Body=b"shared")
    env = credentials.load(local_aws)
    for version in ("s3v4", None):  # None: boto3's default for S3 presigning (the older query signature)
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=local_aws,
            region_name="us-east-1",
            config=Config(signature_version=version) if version else None,
            **env.boto_kwargs(),
        )
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared.txt"})
        assert requests.get(url, timeout=10).content == b"shared"
        tampered = url.replace("shared.txt", "other.txt")
        assert requests.get(tampered, timeout=10).status_code == 403
        put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=1)
        expired = (
            put_url.replace("X-Amz-Expires=1", "X-Amz-Expires=0")
            if version
            else put_url.split("&Expires=")[0] + "&Expires=1000000000"
        )
        assert requests.put(expired, data=b"overwritten", timeout=10).status_code == 403
    assert boto_client("s3").get_object(Bucket=bucket, Key="shared.txt")["Body"].read() == b"shared"


def test_cross_origin_preflight_gets_no_cors_headers(send, bucket):
    preflight = send(
        "OPTIONS",
        f"/{bucket}/x",
        "s3",
        keys="unsigned",
        headers={
            "Origin": "http://127.0.0.1:1",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-amz-target,content-type",
        },
    )
    assert preflight.status_code == 403
    assert not [name for name in preflight.headers if name.lower().startswith("access-control-")]
    create_job = send(
        "OPTIONS",
        "/",
        "sagemaker",
        keys="unsigned",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert create_job.status_code == 403 and "access-control-allow-origin" not in {
        name.lower() for name in create_job.headers
    }


def test_a_cross_origin_request_creates_nothing_even_when_signed(send, boto_client):
    name = f"cross-origin-{uuid.uuid4().hex[:8]}"
    response = send("PUT", f"/{name}", "s3", headers={"Origin": "http://127.0.0.1:1"})
    assert response.status_code == 403 and "<Code>AccessDenied</Code>" in response.text
    assert "access-control-allow-origin" not in {name.lower() for name in response.headers}
    assert not bucket_exists(boto_client, name)


def test_a_foreign_host_is_refused_dns_rebinding(send, boto_client, local_aws):
    port = local_aws.rsplit(":", 1)[1]
    name = f"rebinding-{uuid.uuid4().hex[:8]}"
    response = send("PUT", f"/{name}", "s3", host=f"attacker.example:{port}")  # validly signed for that host
    assert response.status_code == 403 and "is not this local AWS" in response.text
    assert not bucket_exists(boto_client, name)
    health = send("GET", "/_mlops/health", "s3", keys="unsigned", host=f"attacker.example:{port}")
    assert health.status_code == 403


def test_motos_control_api_is_not_reachable_even_signed(send, boto_client):
    """moto's /moto-api/reset would wipe every resource behind the journal's back; AWS has no such path."""
    name = f"kept-{uuid.uuid4().hex[:8]}"
    boto_client("s3").create_bucket(Bucket=name)
    for method, path in (("POST", "/moto-api/reset"), ("GET", "/moto-api/data.json"), ("GET", "/moto-api/")):
        response = send(method, path, "s3")
        assert response.status_code == 404 and "is not part of AWS" in response.text, (path, response.text[:200])
    assert bucket_exists(boto_client, name)


def test_answers_never_carry_cors_headers(send):
    response = send("GET", "/", "s3")
    assert response.status_code == 200
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_health_tells_nothing_secret(local_aws, local_env):
    import requests

    body = requests.get(local_aws + "/_mlops/health", timeout=5).text
    assert local_env["AWS_ACCESS_KEY_ID"] not in body and local_env["AWS_SECRET_ACCESS_KEY"] not in body
    assert set(json.loads(body)) == {"status", "pid"}


def test_the_aws_cli_works_after_eval_local_env(local_aws, boto_client, bucket):
    """The README's promise: any AWS tool works against the local AWS once the shell has its variables."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        AWS_ACCESS_KEY_ID="AKIAREALKEYDONOTSEND",
        AWS_SECRET_ACCESS_KEY="real-secret",
        AWS_SESSION_TOKEN="real-token",
    )  # replaced by the eval
    script = (
        'eval "$(mlops -c configs/local.yaml local env)" && aws s3 ls && aws s3api list-buckets --output json '
        "&& aws sts get-caller-identity --output json"
    )
    done = subprocess.run(
        ["bash", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert bucket in done.stdout
    assert '"Account": "123456789012"' in done.stdout


def test_local_env_json_has_exactly_the_four_variables(mlops, local_aws, local_env):
    result = mlops("-o", "json", "local", "env")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "AWS_ENDPOINT_URL": local_aws,
        "AWS_ACCESS_KEY_ID": local_env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": local_env["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_the_cli_uses_the_instance_keys_without_being_told(mlops, local_aws):
    """`mlops status` (the CLI's own clients) gets in; the same call with moto's keys does not. (The server's calls
    to itself and its jobs' calls are shown by the drive-by test's signed training job, which runs.)"""
    result = mlops("-o", "json", "status")
    assert result.exit_code == 0, result.output
    with pytest.raises(ClientError) as refused:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=local_aws,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).list_buckets()
    assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"


def test_local_env_before_local_up_says_to_start_it(mlops, tmp_path):
    from tests.helpers import free_port

    result = mlops(
        "local", "env", env={"MLOPS_HOME": str(tmp_path), "MLOPS_AWS__ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    )
    assert result.exit_code == 1 and "no credentials" in result.stderr and "mlops local up" in result.stderr
    assert result.stdout == ""
