"""The local S3 refuses a body whose SHA-256 differs from the one the client declared, like S3 does."""

from __future__ import annotations

import base64
import hashlib

import pytest


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_bad_digest_refused_and_nothing_stored(boto_client):
    from botocore.exceptions import ClientError

    s3 = boto_client("s3")
    s3.create_bucket(Bucket="checksum-test")
    s3.put_object(Bucket="checksum-test", Key="good", Body=b"abc", ChecksumSHA256=sha256_b64(b"abc"))
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket="checksum-test", Key="bad", Body=b"abc", ChecksumSHA256=sha256_b64(b"abd"))
    assert caught.value.response["Error"]["Code"] == "BadDigest"
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="checksum-test").get("Contents", [])]
    assert keys == ["good"]


def test_bad_part_digest_refused(boto_client):
    from botocore.exceptions import ClientError

    s3 = boto_client("s3")
    s3.create_bucket(Bucket="checksum-parts")
    upload = s3.create_multipart_upload(Bucket="checksum-parts", Key="big", ChecksumAlgorithm="SHA256")
    with pytest.raises(ClientError) as caught:
        s3.upload_part(
            Bucket="checksum-parts",
            Key="big",
            UploadId=upload["UploadId"],
            PartNumber=1,
            Body=b"x" * 1024,
            ChecksumSHA256=sha256_b64(b"y" * 1024),
        )
    assert caught.value.response["Error"]["Code"] == "BadDigest"
    s3.abort_multipart_upload(Bucket="checksum-parts", Key="big", UploadId=upload["UploadId"])


def test_head_object_reports_the_stored_length(boto_client):
    s3 = boto_client("s3")
    s3.create_bucket(Bucket="head-length")
    s3.put_object(Bucket="head-length", Key="k", Body=b"12345")
    assert s3.head_object(Bucket="head-length", Key="k")["ContentLength"] == 5
