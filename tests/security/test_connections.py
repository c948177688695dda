"""The local AWS under connections that never finish: half-open ones (half a header, then nothing), slowloris
ones (a byte now and then), more of them than it takes, and unsigned form POSTs with a large file. Its own
client still gets answers; the bad connections are closed within the timeouts; nothing unsigned is read in full.

A local AWS of its own, with short timeouts (the defaults are AWS's 20 s) and a smaller connection cap.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlops_cli.local.core import manager
from tests.helpers import local_aws_server, local_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # local AWSes of their own, waits on real timeouts
IDLE_S, HEADER_S, MAX_CONNECTIONS = 2.0, 4.0, 400
LOG_MAX_BYTES = 4096
HALF_OPEN = 300


@contextmanager
def own_local_aws(home: Path, **settings: str) -> Iterator[str]:
    """A local AWS of its own under `home`, with MLOPS_LOCAL_* `settings`; MLOPS_HOME points at `home` meanwhile
    (the clients read its credentials there)."""
    env = {"MLOPS_HOME": str(home), **{f"MLOPS_LOCAL_{name.upper()}": value for name, value in settings.items()}}
    previous = os.environ.get("MLOPS_HOME")
    os.environ["MLOPS_HOME"] = str(home)
    try:
        with local_aws_server(env) as url:
            yield url
    finally:
        if previous is None:
            os.environ.pop("MLOPS_HOME", None)
        else:
            os.environ["MLOPS_HOME"] = previous


@pytest.fixture(scope="module")
def bounded_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with own_local_aws(
        tmp_path_factory.mktemp("bounded-home"),
        idle_timeout_s=str(IDLE_S),
        header_timeout_s=str(HEADER_S),
        max_connections=str(MAX_CONNECTIONS),
        log_max_bytes=str(LOG_MAX_BYTES),
    ) as url:
        yield url


def connect(url: str) -> socket.socket:
    host, port = url.split("://", 1)[1].split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def closed_by_server(connection: socket.socket) -> bool:
    """Whether the server closed the connection (EOF or reset), without waiting."""
    connection.setblocking(False)
    try:
        return connection.recv(1024) == b""
    except BlockingIOError:
        return False
    except ConnectionError:
        return True


def wait_until(condition, timeout: float) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_signed_request_answers_within_a_second_under_300_half_open_connections(bounded_aws):
    # A fresh server spends its first seconds loading (service models, IAM's managed policies): wait that out.
    wait_until(lambda: _answers_quickly(bounded_aws), timeout=60)
    # A client with no connection yet: a pooled one would be idle past IDLE_S by the time it is used, closed by
    # the server as it should be, and botocore's retry of it would be timed too.
    s3 = local_client(bounded_aws, "s3")
    half_open = []
    try:
        for _ in range(HALF_OPEN):
            connection = connect(bounded_aws)
            connection.sendall(b"PUT /bucket/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
            half_open.append(connection)
        started = time.monotonic()
        s3.list_buckets()
        assert time.monotonic() - started < 1.0
        opened = time.monotonic()
        # Each is closed once it was idle for IDLE_S (or at HEADER_S at the latest), not left to pile up.
        took = wait_until(lambda: all(closed_by_server(c) for c in half_open), timeout=HEADER_S + 3)
        assert took <= HEADER_S + 3, (took, opened)
    finally:
        for connection in half_open:
            connection.close()


def assert_trickle_is_cut_at_the_header_deadline(url: str, head: bytes, byte: bytes) -> None:
    """Send `head`, then `byte` every IDLE_S/4 (never idle long enough for the idle timeout): the server closes the
    connection past the header deadline, not before the idle timeout."""
    connection = connect(url)
    started = time.monotonic()
    try:
        connection.sendall(head)
        while not closed_by_server(connection):
            assert time.monotonic() - started < HEADER_S + 3, "still open past the header deadline"
            try:
                connection.setblocking(True)
                connection.sendall(byte)
            except OSError:
                break
            time.sleep(IDLE_S / 4)
        assert time.monotonic() - started >= IDLE_S  # it outlived the idle timeout: the deadline closed it
    finally:
        connection.close()


def test_a_slowloris_header_is_cut_at_the_header_deadline(bounded_aws):
    assert_trickle_is_cut_at_the_header_deadline(bounded_aws, b"GET / HTTP/1.1\r\n", b"X")


def test_a_form_post_trickling_its_fields_is_cut_at_the_header_deadline(bounded_aws):
    """An unsigned form POST whose fields come a byte at a time: its policy cannot be checked until they are in,
    so the header deadline bounds them too (without it, 512 such connections, no credentials needed, held the
    connection cap for ever and everyone else got 503 SlowDown)."""
    head = (
        f"POST /uploads HTTP/1.1\r\nHost: {bounded_aws.split('://', 1)[1]}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
        '--b\r\nContent-Disposition: form-data; name="key"\r\n\r\n'
    )
    assert_trickle_is_cut_at_the_header_deadline(bounded_aws, head.encode(), b"k")


def test_a_body_trickled_under_a_bare_key_id_is_cut_at_the_header_deadline(bounded_aws):
    """A Lambda call with this instance's key id (every presigned URL shows it) and a made-up signature: the body
    must be read before the signature can be checked, so it too must arrive within the header deadline."""
    from mlops_cli.local.core import credentials

    key_id = credentials.load(bounded_aws).access_key_id
    head = (
        f"POST /2015-03-31/functions HTTP/1.1\r\nHost: {bounded_aws.split('://', 1)[1]}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\nX-Amz-Date: 20260101T000000Z\r\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential={key_id}/20260101/us-east-1/lambda/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}\r\n\r\n{{"
    )
    assert_trickle_is_cut_at_the_header_deadline(bounded_aws, head.encode(), b" ")


def test_beyond_the_connection_cap_the_answer_is_slow_down(tmp_path):
    cap = 20
    with own_local_aws(tmp_path, max_connections=str(cap), idle_timeout_s="30", header_timeout_s="30") as url:
        held = []
        try:
            for _ in range(cap):
                connection = connect(url)
                connection.sendall(b"GET / HTTP/1.1\r\n")
                held.append(connection)
            wait_until(lambda: _answer_of_one_more(url).startswith(b"HTTP/1.1 503"), timeout=10)
            answer = _answer_of_one_more(url)
            assert b"<Code>SlowDown</Code>" in answer and b"Please reduce your request rate." in answer
        finally:
            for connection in held:
                connection.close()
        # Once they are gone, it serves again (an SDK retries the 503 with backoff).
        wait_until(lambda: _try_list(url), timeout=10)


def _answer_of_one_more(url: str) -> bytes:
    connection = connect(url)
    try:
        connection.sendall(f"GET /_mlops/health HTTP/1.1\r\nHost: {url.split('://')[1]}\r\n\r\n".encode())
        connection.settimeout(0.5)
        return connection.recv(4096)
    except OSError:
        return b""
    finally:
        connection.close()


def _answers_quickly(url: str) -> bool:
    started = time.monotonic()
    local_client(url, "s3").list_buckets()
    return time.monotonic() - started < 0.25


def _try_list(url: str) -> bool:
    try:
        local_client(url, "s3", retries={"max_attempts": 1}).list_buckets()
        return True
    except Exception:
        return False


def test_an_unsigned_form_post_is_refused_before_its_file_is_read(bounded_aws):
    """A 300 MiB upload with no policy: refused once the form's first fields are read; the file is never
    read (the answer comes while the client has sent only a little of it)."""
    boundary = "boundary42"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\nupload/big.bin\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    size = 300 * 1024**2
    connection = connect(bounded_aws)
    try:
        request_head = (
            f"POST /uploads HTTP/1.1\r\nHost: {bounded_aws.split('://')[1]}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(head) + size}\r\n\r\n"
        )
        connection.sendall(request_head.encode() + head + bytes(256 * 1024))
        connection.settimeout(5)
        answer = b""
        while b"</Error>" not in answer and (chunk := connection.recv(4096)):  # head and body may come apart
            answer += chunk
    finally:
        connection.close()
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"<Code>AccessDenied</Code>" in answer


def test_a_form_post_whose_fields_do_not_fit_the_cap_is_refused(bounded_aws):
    boundary = "b"
    padding = "p" * (128 * 1024)
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="x-ignore-pad"\r\n\r\n{padding}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nx\r\n--{boundary}--\r\n'
    ).encode()
    import requests

    answer = requests.post(
        f"{bounded_aws}/uploads",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=10,
    )
    assert answer.status_code == 403 and "policy and signature in its first" in answer.text


def test_the_server_log_rotates(bounded_aws):
    """Every request writes a log line; past its size limit the log becomes server.log.1 and a new one starts,
    and no more than BACKUPS old logs are kept."""
    from mlops_cli.local.core import serverlog

    log = Path(manager.status(bounded_aws).log_file)
    for _ in range(60):
        connect_and_refuse(bounded_aws)
    wait_until(lambda: log.with_name("server.log.1").exists(), timeout=10)
    logs = sorted(log.parent.glob("server.log*"))
    assert len(logs) <= serverlog.BACKUPS + 1
    assert all(path.stat().st_size <= LOG_MAX_BYTES + 1024 for path in logs)


def connect_and_refuse(url: str) -> None:
    import requests

    assert requests.get(f"{url}/unsigned", timeout=10).status_code == 403


@pytest.mark.parametrize("who", ["unsigned-form-post", "presigned-put"])
def test_a_chunked_body_cut_inside_a_chunk_is_refused_without_reading_past_it(bounded_aws, who):
    """A chunk that says 2 MiB, 3 bytes of it, then the client closes its side. werkzeug's dechunker counted the
    missing bytes as read, and the server copied them from its own memory: 64 KiB of it into an unsigned form's
    fields, and 1 MiB reads (a presigned URL's body) segfaulted the whole server. Now: 400, and it still serves."""
    netloc = bounded_aws.split("://", 1)[1]
    if who == "presigned-put":
        url = local_client(bounded_aws, "s3", signature_version="s3v4").generate_presigned_url(
            "put_object", Params={"Bucket": "chunked", "Key": "cut.bin"}
        )
        method, target, content_type = "PUT", url.split(netloc, 1)[1], "application/octet-stream"
    else:
        method, target, content_type = "POST", "/chunked", "multipart/form-data; boundary=b"
    connection = connect(bounded_aws)
    try:
        connection.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: {netloc}\r\nContent-Type: {content_type}\r\n".encode()
            + b"Transfer-Encoding: chunked\r\n\r\n200000\r\nabc"
        )
        connection.shutdown(socket.SHUT_WR)
        connection.settimeout(10)
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    finally:
        connection.close()
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"<Code>IncompleteBody</Code>" in answer
    assert _try_list(bounded_aws)
    assert "Traceback" not in Path(manager.status(bounded_aws).log_file).read_text()


def _answer_while_sending(url: str, head: bytes, first_bytes: int) -> bytes:
    """Send `head` and `first_bytes` of its body, then read the answer (the rest of the body is never sent)."""
    connection = connect(url)
    try:
        connection.sendall(head + bytes(first_bytes))
        connection.settimeout(10)
        answer = b""
        while b"</Error>" not in answer and (chunk := connection.recv(4096)):
            answer += chunk
        return answer
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        ("", b"AccessDenied"),
        (
            "AWS4-HMAC-SHA256 Credential=AKIAOTHERKEY/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, "
            "Signature=" + "0" * 64,
            b"InvalidAccessKeyId",
        ),
    ],
    ids=["unsigned", "another-key"],
)
def test_a_body_nobody_signed_is_refused_before_it_is_read(bounded_aws, authorization, code):
    """A 300 MiB PUT with no signature, or another key's: refused from its headers while the client has sent only
    256 KiB (read in full first, it would wait for the rest and time out instead)."""
    netloc = bounded_aws.split("://", 1)[1]
    head = f"PUT /uploads/big.bin HTTP/1.1\r\nHost: {netloc}\r\nContent-Length: {300 * 1024**2}\r\n"
    if authorization:
        head += f"Authorization: {authorization}\r\n"
    answer = _answer_while_sending(bounded_aws, (head + "\r\n").encode(), 256 * 1024)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:300]
    assert b"<Code>" + code + b"</Code>" in answer


def test_a_signed_body_that_stalls_gets_request_timeout(bounded_aws):
    """Signed for 1 MiB, half of it sent, then nothing: answered S3's RequestTimeout after the idle timeout, not
    held open for ever."""
    import hashlib

    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    from mlops_cli.local.core import credentials

    keys = credentials.load(bounded_aws)
    body = bytes(1024**2)
    request = AWSRequest(method="PUT", url=f"{bounded_aws}/uploads/stalled.bin", data=body)
    request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    S3SigV4Auth(Credentials(keys.access_key_id, keys.secret_access_key), "s3", "us-east-1").add_auth(request)
    netloc = bounded_aws.split("://", 1)[1]
    head = f"PUT /uploads/stalled.bin HTTP/1.1\r\nHost: {netloc}\r\nContent-Length: {len(body)}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in request.headers.items() if name.lower() != "host"
    )
    started = time.monotonic()
    answer = _answer_while_sending(bounded_aws, (head + "\r\n").encode(), len(body) // 2)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert b"<Code>RequestTimeout</Code>" in answer
    assert time.monotonic() - started >= IDLE_S
