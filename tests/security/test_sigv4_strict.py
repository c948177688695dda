"""SigV4 as strict as AWS, attacked: headers nobody signed, form fields a policy does not name, credential scopes
for regions and services AWS does not have, and credentials no key can have. Each attack is refused with AWS's
403, changes nothing, and leaves no traceback in the server's log."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from mlops_cli.local.core import credentials, manager


@pytest.fixture(scope="module")
def buckets(boto_client) -> tuple[str, str]:
    """(a bucket the attacker may upload to with a presigned URL, another bucket with a secret in it)."""
    share, secret = f"share-{uuid.uuid4().hex[:8]}", f"secret-{uuid.uuid4().hex[:8]}"
    s3 = boto_client("s3")
    s3.create_bucket(Bucket=share)
    s3.create_bucket(Bucket=secret)
    s3.put_object(Bucket=secret, Key="creds.txt", Body=b"the secret")
    return share, secret


@pytest.fixture(scope="module")
def presigner(local_aws):
    return boto3.client(
        "s3",
        endpoint_url=local_aws,
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
        **credentials.load(local_aws).boto_kwargs(),
    )


@pytest.fixture
def server_log(local_aws):
    """The server's log; the test asserts that nothing it did added a traceback or an internal error."""
    log = Path(manager.status(local_aws).log_file)
    start = log.stat().st_size
    yield log
    with open(log, "rb") as handle:
        handle.seek(start)
        added = handle.read().decode(errors="replace")
    assert "Traceback" not in added and "internal error" not in added, added[-2000:]


def keys_of(boto_client, bucket: str) -> list[str]:
    return [item["Key"] for item in boto_client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]


def assert_headers_not_signed(answer: requests.Response, *names: str) -> None:
    assert answer.status_code == 403, answer.text
    assert "<Code>AccessDenied</Code>" in answer.text
    assert "There were headers present in the request which were not signed" in answer.text
    assert all(name in answer.text for name in names)


def test_a_presigned_put_cannot_be_turned_into_a_copy_of_another_bucket(presigner, boto_client, buckets, server_log):
    share, secret = buckets
    url = presigner.generate_presigned_url("put_object", Params={"Bucket": share, "Key": "upload/drop.bin"})
    answer = requests.put(url, data=b"", headers={"x-amz-copy-source": f"{secret}/creds.txt"}, timeout=10)
    assert_headers_not_signed(answer, "x-amz-copy-source")
    assert keys_of(boto_client, share) == []
    assert requests.put(url, data=b"dropped", timeout=10).status_code == 200  # what the URL was made for


def test_a_presigned_put_cannot_add_unsigned_metadata(presigner, boto_client, buckets, server_log):
    share, _ = buckets
    url = presigner.generate_presigned_url("put_object", Params={"Bucket": share, "Key": "upload/meta.bin"})
    answer = requests.put(url, data=b"x", headers={"x-amz-meta-owner": "attacker"}, timeout=10)
    assert_headers_not_signed(answer, "x-amz-meta-owner")
    assert "upload/meta.bin" not in keys_of(boto_client, share)


def test_an_older_presigned_put_cannot_become_a_legal_hold_or_a_retention(local_aws, boto_client, server_log):
    """S3's older presigned form signs only the subresources botocore's HmacV1Auth lists: `&legal-hold` or
    `&retention` added to a presigned PUT of a key made it PutObjectLegalHold / PutObjectRetention (a COMPLIANCE
    lock until 2099 that no one can lift), answered 200."""
    bucket = f"locked-{uuid.uuid4().hex[:8]}"
    s3 = boto_client("s3")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"v1")
    older = boto3.client(
        "s3",
        endpoint_url=local_aws,
        region_name="us-east-1",
        config=Config(signature_version="s3"),
        **credentials.load(local_aws).boto_kwargs(),
    )
    url = older.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "k.txt"})
    namespace = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    for subresource, body in (
        ("legal-hold", f"<LegalHold {namespace}><Status>ON</Status></LegalHold>"),
        (
            "retention",
            f"<Retention {namespace}><Mode>COMPLIANCE</Mode><RetainUntilDate>2099-01-01T00:00:00Z"
            "</RetainUntilDate></Retention>",
        ),
    ):
        answer = requests.put(f"{url}&{subresource}", data=body.encode(), timeout=10)
        assert answer.status_code == 403, (subresource, answer.text)
        assert "<Code>SignatureDoesNotMatch</Code>" in answer.text and subresource in answer.text
    assert s3.get_object_legal_hold(Bucket=bucket, Key="k.txt").get("LegalHold", {}).get("Status") != "ON"
    assert requests.put(url, data=b"v2", timeout=10).status_code == 200  # what the URL was made for


def test_header_auth_refuses_x_amz_headers_added_after_signing(local_aws, boto_client, buckets, server_log):
    """A signed request replayed with one more header (the signature still matches what was signed)."""
    share, secret = buckets
    request = AWSRequest("PUT", f"{local_aws}/{share}/added.bin", data=b"", headers={})
    keys = credentials.load(local_aws)
    S3SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key), "s3", "us-east-1").add_auth(request)
    headers = {**dict(request.headers), "x-amz-copy-source": f"{secret}/creds.txt"}
    answer = requests.put(f"{local_aws}/{share}/added.bin", data=b"", headers=headers, timeout=10)
    assert_headers_not_signed(answer, "x-amz-copy-source")
    assert "added.bin" not in keys_of(boto_client, share)


@pytest.mark.parametrize(
    "extra",
    [{"Content-Type": "text/html"}, {"x-amz-meta-owner": "attacker"}, {"acl": "public-read"}],
    ids=["content-type", "metadata", "acl"],
)
def test_a_post_policy_refuses_fields_it_does_not_name(presigner, boto_client, buckets, server_log, extra):
    share, _ = buckets
    post = presigner.generate_presigned_post(share, "form/page.html", ExpiresIn=60)
    answer = requests.post(post["url"], data={**post["fields"], **extra}, files={"file": b"<h1>x</h1>"}, timeout=10)
    assert answer.status_code == 403 and "<Code>AccessDenied</Code>" in answer.text
    assert f"Invalid according to Policy: Extra input fields: {next(iter(extra)).lower()}" in answer.text
    assert "form/page.html" not in keys_of(boto_client, share)


def test_a_post_policy_accepts_the_fields_it_names(presigner, boto_client, buckets, server_log):
    share, _ = buckets
    post = presigner.generate_presigned_post(
        share,
        "form/named.txt",
        Fields={"Content-Type": "text/plain"},
        Conditions=[{"Content-Type": "text/plain"}],
        ExpiresIn=60,
    )
    answer = requests.post(
        post["url"], data={**post["fields"], "x-ignore-note": "any"}, files={"file": b"fine"}, timeout=10
    )
    assert answer.status_code in (200, 204), answer.text
    assert boto_client("s3").get_object(Bucket=share, Key="form/named.txt")["ContentType"] == "text/plain"


def signed_for(local_aws: str, region: str, service: str, key_id: str | None = None) -> dict[str, str]:
    """Headers of a ListBuckets request signed with the instance's secret for `region` and `service`."""
    keys = credentials.load(local_aws)
    request = AWSRequest("GET", f"{local_aws}/", headers={})
    S3SigV4Auth(Credentials(key_id or keys.access_key_id, keys.secret_access_key), service, region).add_auth(request)
    return dict(request.headers)


@pytest.mark.parametrize(
    ("region", "service", "said"),
    [("zz-fake-9", "s3", "a valid region"), ("us-east-1", "y", "correct service")],
    ids=["made-up-region", "made-up-service"],
)
def test_a_credential_scope_aws_does_not_have_is_refused(local_aws, server_log, region, service, said):
    answer = requests.get(f"{local_aws}/", headers=signed_for(local_aws, region, service), timeout=10)
    assert answer.status_code == 403, answer.text
    assert f"Credential should be scoped to {said}" in answer.text


def test_a_real_region_other_than_the_clients_default_works(local_aws, server_log):
    answer = requests.get(f"{local_aws}/", headers=signed_for(local_aws, "eu-central-2", "s3"), timeout=10)
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("where", ["header", "presigned", "presigned-v2"])
def test_non_ascii_access_keys_get_403_not_500(local_aws, buckets, server_log, where):
    share, _ = buckets
    key_id = "LMLOÄÖÜ" + "X" * 13
    if where == "header":
        headers = {
            name: value.encode("utf-8").decode("latin-1") if name == "Authorization" else value
            for name, value in signed_for(local_aws, "us-east-1", "s3", key_id).items()
        }
        answer = requests.get(f"{local_aws}/", headers=headers, timeout=10)
    elif where == "presigned":
        credential = f"{key_id}/20260101/us-east-1/s3/aws4_request"
        answer = requests.get(
            f"{local_aws}/{share}/x",
            params={
                "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Credential": credential,
                "X-Amz-Date": "20260101T000000Z",
                "X-Amz-Expires": "60",
                "X-Amz-SignedHeaders": "host",
                "X-Amz-Signature": "0" * 64,
            },
            timeout=10,
        )
    else:
        answer = requests.get(
            f"{local_aws}/{share}/x",
            params={"AWSAccessKeyId": key_id, "Expires": "9999999999", "Signature": "é"},
            timeout=10,
        )
    assert answer.status_code == 403, answer.text
    assert "<Code>InvalidAccessKeyId</Code>" in answer.text or "<Code>SignatureDoesNotMatch</Code>" in answer.text
