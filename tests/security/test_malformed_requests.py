"""Malformed and oversized requests get AWS's error shape with a 4xx, never an HTML 500; bodies above AWS's own
limits are refused from their Content-Length, before they are read."""

from __future__ import annotations

import json
import re
import socket
import uuid

import pytest
from botocore.exceptions import ClientError

from mlops_cli.local.core import guard

NESTED = b"[" * 5000 + b"]" * 5000


def test_an_absurdly_nested_lambda_payload_gets_a_4xx(send, boto_client):
    response = send("POST", "/2015-03-31/functions/any-function/invocations", "lambda", body=NESTED)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert "<html" not in response.text.lower()
    with pytest.raises(ClientError) as caught:  # botocore reads it as AWS's error
        boto_client("lambda").invoke(FunctionName="any-function", Payload=NESTED)
    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"


@pytest.mark.parametrize(
    "body",
    [b'{"TrainingJobName": ', b'{"TrainingJobName": ' + NESTED + b"}", b"\xff\xfe"],
    ids=["truncated", "nested", "not-utf8"],
)
def test_invalid_json_bodies_get_a_serialization_exception(send, body):
    response = send(
        "POST",
        "/",
        "sagemaker",
        body=body,
        headers={"X-Amz-Target": "SageMaker.DescribeTrainingJob", "Content-Type": "application/x-amz-json-1.1"},
    )
    assert response.status_code == 400 and response.json()["__type"] == "SerializationException"


@pytest.mark.parametrize("body", [b"<Delete><Object>", b"<Tagging><TagSet><Tag>&undefined;</Tag></TagSet></Tagging>"])
def test_bad_xml_gets_malformed_xml(send, boto_client, body):
    bucket = f"bad-xml-{uuid.uuid4().hex[:8]}"
    boto_client("s3").create_bucket(Bucket=bucket)
    query = "delete" if body.startswith(b"<Delete") else "tagging"
    response = send("POST" if query == "delete" else "PUT", f"/{bucket}?{query}", "s3", body=body)
    assert response.status_code == 400 and "<Code>MalformedXML</Code>" in response.text


@pytest.mark.parametrize(
    "method, path, service, body, headers, code",
    [
        (
            "POST",
            "/",
            "sagemaker",
            b"{}",
            {"X-Amz-Target": "SageMaker.NoSuchOperation", "Content-Type": "application/x-amz-json-1.1"},
            "UnknownOperationException",
        ),
        ("GET", "/no/api/has/this/path", "sagemaker", b"", {}, "UnknownOperationException"),
        (
            "POST",
            "/",
            "sts",
            b"Action=NoSuchAction&Version=2011-06-15",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "InvalidAction",
        ),
    ],
    ids=["unknown-target", "unknown-path", "unknown-query-action"],
)
def test_unknown_operations_get_aws_errors_not_html(send, method, path, service, body, headers, code):
    response = send(method, path, service, body=body, headers=headers)
    assert response.status_code == 400 and code in response.text and "<html" not in response.text.lower()


def test_missing_objects_and_buckets_keep_their_404(boto_client):
    """moto's bodiless 404 answers (HEAD) stay what botocore expects: code 404."""
    s3 = boto_client("s3")
    s3.create_bucket(Bucket="missing-things")
    for call in (
        lambda: s3.head_object(Bucket="missing-things", Key="nope"),
        lambda: s3.head_bucket(Bucket="no-such-bucket-here"),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == "404"


def raw_exchange(local_aws: str, head: str, body_chunks: list[bytes] = ()) -> bytes:
    """Send a request head (and maybe some body) over a socket, never finishing the body; the server's answer
    (head and its Content-Length of body: the connection stays open, the server would wait for the rest)."""
    host, port = local_aws.split("://", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        try:
            for chunk in body_chunks:
                connection.sendall(chunk)
        except OSError:  # the server may answer and close before the body is all sent: that is the point
            pass
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < int(
            re.search(rb"Content-Length: (\d+)", answer).group(1)
        ):
            chunk = connection.recv(65536)
            assert chunk, f"the connection closed before a whole answer: {answer!r}"
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "service, path, length, code",
    [
        (
            "lambda",
            "/2015-03-31/functions/f/invocations",
            guard.LAMBDA_INVOKE_MAX_BODY + 1,
            b"RequestTooLargeException",
        ),
        ("s3", "/some-bucket/some-key", guard.S3_MAX_BODY + 1, b"<Code>EntityTooLarge</Code>"),
        ("sagemaker", "/", guard.OTHER_MAX_BODY + 1, b"RequestEntityTooLargeException"),
    ],
    ids=["lambda-invoke-6MB", "s3-put-5GiB", "sagemaker-api-10MiB"],
)
def test_a_body_above_the_limit_is_refused_unread(local_aws, local_env, service, path, length, code):
    """Only the head is sent: the answer comes at once, so the server did not wait to read the body. (The key id
    is the instance's, or the request would be refused for that, also before reading.)"""
    port = local_aws.rsplit(":", 1)[1]
    answer = raw_exchange(
        local_aws,
        f"PUT {path} HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Length: {length}\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential={local_env['AWS_ACCESS_KEY_ID']}/"
        f"20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0\n",
    )
    assert answer.split(b" ")[1] in (b"400", b"413") and code in answer


def test_a_chunked_body_is_bounded_too(local_aws, local_env):
    """No length to check up front: the body is read only up to the limit (with the instance's key id, or it
    would be refused before any of it is read)."""
    port = local_aws.rsplit(":", 1)[1]
    chunk = b"%x\r\n" % (1024 * 1024) + b"x" * (1024 * 1024) + b"\r\n"
    answer = raw_exchange(
        local_aws,
        f"POST /2015-03-31/functions/f/invocations HTTP/1.1\nHost: 127.0.0.1:{port}\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential={local_env['AWS_ACCESS_KEY_ID']}/"
        "20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0\n"
        "Transfer-Encoding: chunked\n",
        [chunk] * 8,
    )
    assert answer.split(b" ")[1] == b"413" and b"RequestTooLargeException" in answer


def test_an_unexpected_failure_is_an_aws_shaped_500_not_html():
    """The guard's last resort, driven through a WSGI app that fails: InternalFailure JSON, no HTML page."""
    from mlops_cli.local.core.credentials import LocalCredentials

    def broken(environ, start_response):
        raise KeyError("a bug")

    app = guard.Guard(broken, LocalCredentials("id", "secret"), "127.0.0.1", 1, open_paths=("/open",))  # type: ignore
    captured = {}
    body = b"".join(
        app(
            {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/open",
                "HTTP_HOST": "127.0.0.1:1",
                "HTTP_X_AMZ_TARGET": "SageMaker.ListModels",
                "wsgi.input": None,
            },
            lambda status, headers, exc_info=None: captured.update(status=status),
        )
    )
    assert captured["status"].startswith("500") and json.loads(body)["__type"] == "InternalFailure"
