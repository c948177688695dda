"""The local AWS's front door: a WSGI middleware in front of the hooks and moto that lets in only the user's
own tools, and turns every failure into an AWS-shaped error.

In order, before any handler runs: the Host must be the server's own loopback address and port (no DNS
rebinding), there must be no Origin header (browsers send one on every cross-origin request: no web page gets
in, and no CORS header ever leaves), the signature must be one of the instance's as far as the headers show (a
form POST's policy and signature: its first FORM_FIELDS_MAX bytes), the body must be within AWS's own size
limit (checked on Content-Length before reading; a chunked body is read only up to the limit), and the request
must be SigV4-signed with the instance's credentials (mlops_cli.local.core.sigv4). Malformed bodies get the
protocol's 4xx, anything unexpected an InternalFailure 500, never werkzeug's HTML page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import re
import shlex
import sys
import tempfile
import traceback
import xml.parsers.expat
from collections.abc import Callable, Iterable
from typing import Any
from xml.etree.ElementTree import ParseError

from mlops_cli.local.core import aws_errors, sigv4
from mlops_cli.local.core.body_digest import BODY_SHA256
from mlops_cli.local.core.connections import UNVERIFIED_READ, ChunkedBodyError
from mlops_cli.local.core.credentials import LocalCredentials
from mlops_cli.local.iam import authorize, principals

GiB, MiB = 1024**3, 1024**2
# AWS's own request size limits:
S3_MAX_BODY = 5 * GiB  # PutObject / UploadPart / POST upload: 5 GiB in one request (S3 User Guide, "Uploading objects")
LAMBDA_INVOKE_MAX_BODY = 6 * MiB  # synchronous Invoke payload: 6 MB (Lambda Developer Guide, "Lambda quotas")
# CreateFunction / UpdateFunctionCode with the zip inline: 50 MB zipped (Lambda quotas), base64 in JSON is 4/3 of it.
LAMBDA_MAX_BODY = 70 * MiB
SAGEMAKER_INVOKE_MAX_BODY = 6 * MiB  # InvokeEndpoint payload: 6 MB (SageMaker "Endpoints and quotas")
# No other API documents a body limit, and their largest documented inputs are far smaller (PutLogEvents:
# 1 MiB a batch; IAM policies: 6,144 characters; RunInstances user data: 16 KB): 10 MiB bounds memory.
OTHER_MAX_BODY = 10 * MiB
_READ_CHUNK = 1 * MiB
# What of a form POST is read before its policy and signature are checked: the fields before the file (S3's
# policies are a few KB; AWS caps the whole form's fields at 20 KB).
FORM_FIELDS_MAX = 64 * 1024
_LAMBDA_INVOKE = re.compile(r"^/\d{4}-\d{2}-\d{2}/functions/[^/]+/invocations$")
_SAGEMAKER_INVOKE = re.compile(r"^/endpoints/[^/]+/invocations(-response-stream)?$")
# Bodies that fail to parse (JSON, XML, encodings, nesting beyond the parser's depth) are the client's fault.
MALFORMED = (ValueError, RecursionError, UnicodeError, xml.parsers.expat.ExpatError, ParseError)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Refused(Exception):
    """A request the front door answers itself with AWS's error for `kind`."""

    def __init__(self, kind: str, message: str, code: str | None = None):
        super().__init__(message)
        self.kind, self.message, self.code = kind, message, code


class Guard:
    """Wraps the local AWS app; `open_paths` (the health check) skip authentication, not the Host/Origin rule."""

    def __init__(
        self,
        app: WsgiApp,
        credentials: LocalCredentials,
        host: str,
        port: int,
        open_paths: tuple[str, ...] = (),
        home: str = "",
    ):
        self.app = app
        self.credentials = credentials
        # Named to a client signing with another key (most likely another home's local AWS): where this one belongs.
        self.home = home
        # Clients name the server by its address or as localhost; any other name is a rebinding attempt.
        address = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a Host header
        self.allowed_hosts = {f"{address}:{port}".lower(), f"localhost:{port}"}
        self.open_paths = open_paths

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = _headers(environ)
        service = (sigv4.scope_of(headers, environ.get("QUERY_STRING", "")) or ("", ""))[1]
        protocol = aws_errors.protocol_of(service, headers, environ.get("PATH_INFO", "/"))
        try:
            self._admit(environ, headers, service)
            return self._forward(environ, start_response, protocol)
        except Refused as refused:
            return _answer(
                start_response, environ, *aws_errors.error(refused.kind, protocol, refused.message, refused.code)
            )
        except MALFORMED as exc:
            kind, message = "malformed", f"the request could not be parsed: {type(exc).__name__}"
            code = "InvalidRequestContentException" if _LAMBDA_INVOKE.match(environ.get("PATH_INFO", "")) else None
            return _answer(start_response, environ, *aws_errors.error(kind, protocol, message, code))
        except NotImplementedError as exc:  # moto's word for what it does not emulate
            return _answer(start_response, environ, *aws_errors.error("not-implemented", protocol, str(exc)))
        except Exception as exc:  # the one place every other failure becomes AWS's 500 instead of an HTML page
            if type(exc).__name__ == "OperationNotFoundError":  # botocore's: no such operation in the service
                return _answer(
                    start_response,
                    environ,
                    *aws_errors.error("unknown-operation", protocol, f"unknown operation {exc}"),
                )
            print(
                f"internal error on {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}:\n"
                f"{traceback.format_exc()}",
                file=sys.stderr,
                flush=True,
            )
            return _answer(
                start_response, environ, *aws_errors.error("internal", protocol, "We encountered an internal error.")
            )

    def _forward(self, environ: dict[str, Any], start_response: Callable[..., Any], protocol: str) -> list[bytes]:
        """The app's answer without Access-Control-* headers (moto adds them to every answer), and its HTML error
        pages (a path no API has) as AWS's error."""
        answered: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            answered.update(status=status, headers=headers)

        chunks = self.app(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        headers = [
            (name, value) for name, value in answered["headers"] if not name.lower().startswith("access-control-")
        ]
        # Flask's error pages; not moto's bodiless errors (a HEAD's 404), which it also labels text/html.
        html = body.lstrip()[:15].lower() in (b"<!doctype html>", b"<html>") or body.lstrip().startswith(b"<html ")
        if html and int(answered["status"].split()[0]) >= 400:
            return _answer(
                start_response,
                environ,
                *aws_errors.error(
                    "unknown-operation",
                    protocol,
                    f"no operation of this API answers {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}",
                ),
            )
        start_response(answered["status"], headers)
        return [body]

    def _admit(self, environ: dict[str, Any], headers: dict[str, str], service: str) -> None:
        """Raise Refused unless the request may reach a handler; on success the body is in wsgi.input."""
        if headers.get("host", "").lower() not in self.allowed_hosts:
            raise Refused("forbidden", f"Host {headers.get('host', '')!r} is not this local AWS")
        if "origin" in headers:
            raise Refused("forbidden", "cross-origin requests (from a web page) are not accepted")
        if environ.get("PATH_INFO") in self.open_paths:
            return
        form_post = (
            environ["REQUEST_METHOD"] == "POST"
            and "authorization" not in headers
            and headers.get("content-type", "").startswith("multipart/form-data")
        )
        request = sigv4.SignedRequest(
            environ["REQUEST_METHOD"], _raw_path(environ), environ.get("QUERY_STRING", ""), headers, ""
        )
        caller = self._caller(headers, environ.get("QUERY_STRING", ""))
        # Before reading any body: the headers' signature, or a form's policy and signature (in its first bytes).
        refusal = self._precheck_form_post(environ) if form_post else sigv4.precheck(request, caller.credentials)
        if refusal is None:
            # A body read before its signature can be checked (only its key id is known to be this instance's, and
            # that is in every presigned URL) must arrive within the header deadline.
            unverified = not form_post and not sigv4.checked_before_body(request)
            with environ.get(UNVERIFIED_READ, contextlib.nullcontext)() if unverified else contextlib.nullcontext():
                body_sha256 = _read_body(environ, *_body_limit(service, environ.get("PATH_INFO", "/")))
            if form_post:
                refusal = self._verify_form_post(environ)
            elif sigv4.checked_before_body(request):  # the signature is verified: what is left is the body's hash
                refusal = sigv4.body_refusal(request, body_sha256)
            else:
                refusal = sigv4.verify(dataclasses.replace(request, body_sha256=body_sha256), caller.credentials)
            if not form_post:
                environ[BODY_SHA256] = body_sha256
        if refusal is not None:
            raise Refused(refusal.kind, self._explained(refusal))
        region = (sigv4.scope_of(headers, environ.get("QUERY_STRING", "")) or ("us-east-1",))[0]
        denied = authorize.denial(caller, environ, headers, service, region)  # IAM, for users' and roles' keys
        if denied is not None:
            raise Refused("policy", denied)
        if (
            _LAMBDA_INVOKE.match(environ.get("PATH_INFO", ""))
            or "x-amz-target" in headers
            or "json" in headers.get("content-type", "")
        ):
            body = environ["wsgi.input"].read()  # within the API's limit, and the request is the user's own
            environ["wsgi.input"].seek(0)
            if body.strip():
                json.loads(body)  # AWS takes only JSON here; nesting beyond the parser's depth is refused too

    def _precheck_form_post(self, environ: dict[str, Any]) -> sigv4.Refusal | None:
        """A form POST carries its policy and signature in the body, before the file (S3 ignores fields after
        it): they are read, at most FORM_FIELDS_MAX bytes, and checked before the rest of the body is read."""
        with environ.get(UNVERIFIED_READ, contextlib.nullcontext)():  # a deadline: no one has signed this yet
            fields, prefix = _form_fields_before_file(environ)
        environ["wsgi.input"] = _Prefixed(prefix, environ["wsgi.input"])  # read again whole once admitted
        bucket = environ.get("PATH_INFO", "/").strip("/").split("/")[0]
        return sigv4.verify_post_policy(fields, self.credentials, bucket, file_size=None)

    def _caller(self, headers: dict[str, str], raw_query: str) -> principals.Caller:
        """Who the request says it is: the root (this instance's keys), a local IAM user or a role session."""
        try:
            return principals.identify(headers, raw_query, self.credentials)
        except principals.BadToken as exc:
            raise Refused("unknown-key", str(exc)) from None
        except principals.ExpiredToken as exc:
            raise Refused("expired-token", str(exc)) from None

    def _explained(self, refusal: sigv4.Refusal) -> str:
        """Another key than this instance's: say whose instance this is and how to use its credentials."""
        if refusal.kind != "unknown-key" or not self.home:
            return refusal.message
        owner = shlex.quote(self.home)
        return (
            f"{refusal.message}: it belongs to MLOPS_HOME={owner} "
            f'(other AWS tools: eval "$(MLOPS_HOME={owner} mlops local env)")'
        )

    def _verify_form_post(self, environ: dict[str, Any]) -> sigv4.Refusal | None:
        """An S3 POST upload (HTML form): accepted only with a policy signed by this instance's key."""
        from werkzeug.formparser import parse_form_data

        body = environ["wsgi.input"]
        _stream, form, files = parse_form_data({**environ}, max_form_parts=1000)
        bucket = environ.get("PATH_INFO", "/").strip("/").split("/")[0]
        size = files["file"].seek(0, io.SEEK_END) if "file" in files else 0
        body.seek(0)
        return sigv4.verify_post_policy(dict(form.items()), self.credentials, bucket, size)


class _Prefixed(io.RawIOBase):
    """`prefix` (what was already read of a stream), then the rest of `stream`."""

    def __init__(self, prefix: bytes, stream: Any):
        self.prefix, self.stream = prefix, stream

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if self.prefix:
            wanted = len(self.prefix) if size is None or size < 0 else size
            chunk, self.prefix = self.prefix[:wanted], self.prefix[wanted:]
            return chunk
        return self.stream.read(size) if size is not None and size >= 0 else self.stream.read()


def _form_fields_before_file(environ: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """(the form's fields up to its file, the bytes read for them): Refused when they do not fit in
    FORM_FIELDS_MAX or the body is no multipart form."""
    from werkzeug.http import parse_options_header
    from werkzeug.sansio.multipart import NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder

    boundary = parse_options_header(environ.get("CONTENT_TYPE", ""))[1].get("boundary", "")
    if not boundary:
        raise Refused("malformed", "a multipart/form-data body needs a boundary")
    declared = environ.get("CONTENT_LENGTH")
    chunked = environ.get("wsgi.input_terminated") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    remaining = int(declared) if declared and declared.isdigit() else None if chunked else 0
    decoder = MultipartDecoder(boundary.encode("latin-1"))  # what it buffers is bounded by what is read here
    stream, prefix = environ["wsgi.input"], bytearray()
    fields: dict[str, str] = {}
    name, value = None, bytearray()
    while True:
        event = decoder.next_event()
        if event is NEED_DATA:
            room = FORM_FIELDS_MAX - len(prefix) if remaining is None else min(FORM_FIELDS_MAX - len(prefix), remaining)
            if room <= 0 and (remaining is None or remaining > 0):
                raise Refused(
                    "missing", f"a form POST needs its policy and signature in its first {FORM_FIELDS_MAX:,} bytes"
                )
            chunk = _read_or_time_out(stream, min(room, 64 * 1024)) if room > 0 else b""
            prefix += chunk
            if remaining is not None:
                remaining -= len(chunk)
            decoder.receive_data(chunk or None)
        elif isinstance(event, Field):
            name, value = event.name.lower(), bytearray()
        elif isinstance(event, Data) and name is not None:
            value += event.data
            if not event.more_data:
                fields[name], name = value.decode("utf-8", "replace"), None
        elif isinstance(event, (File, Epilogue)):
            return fields, bytes(prefix)


def _read_or_time_out(stream: Any, size: int) -> bytes:
    try:
        return stream.read(size)
    except TimeoutError:  # the connection's idle timeout (mlops_cli.local.core.connections)
        raise Refused(
            "request-timeout",
            "Your socket connection to the server was not read from or written to within the timeout period. "
            "Idle connections will be closed.",
        ) from None
    except ChunkedBodyError as exc:
        raise Refused("malformed", f"the request's chunked body cannot be read: {exc}", "IncompleteBody") from None


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _raw_path(environ: dict[str, Any]) -> str:
    """The path as the client encoded it (what it signed); PATH_INFO is already decoded."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if raw.startswith("/"):
        return raw.split("?", 1)[0]
    from urllib.parse import quote

    return quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/~!$&'()*+,;=:@")


def _body_limit(service: str, path: str) -> tuple[int, str | None]:
    """(bytes, AWS's error code when it has its own) for a request to `service` on `path`."""
    if service == "s3" or not service:
        return S3_MAX_BODY, None
    if service == "lambda":
        return (
            (LAMBDA_INVOKE_MAX_BODY, "RequestTooLargeException")
            if _LAMBDA_INVOKE.match(path)
            else (LAMBDA_MAX_BODY, None)
        )
    if service == "sagemaker" and _SAGEMAKER_INVOKE.match(path):
        return SAGEMAKER_INVOKE_MAX_BODY, None
    return OTHER_MAX_BODY, None


def _read_body(environ: dict[str, Any], limit: int, code: str | None = None) -> str:
    """Read the body into a spool file (memory up to 1 MiB, then disk: a large body is held in memory only once
    the request is known to be the user's) that replaces wsgi.input; refused unread when its Content-Length is
    above `limit`, and a chunked one is read only up to `limit`. Returns its SHA-256."""
    stream = environ["wsgi.input"]
    declared = environ.get("CONTENT_LENGTH")
    remaining: int | None = None  # None: read to the end (chunked)
    if declared:
        try:
            remaining = int(declared)
        except ValueError:
            raise Refused("malformed", f"Content-Length {declared!r} is not a number") from None
        if remaining < 0:
            raise Refused("malformed", f"Content-Length {declared!r} is not a number")
        if remaining > limit:
            raise Refused(
                "too-large",
                f"the request body ({remaining:,} bytes) is above this API's limit of {limit:,} bytes",
                code,
            )
    elif not (environ.get("wsgi.input_terminated") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()):
        remaining = 0
    spool = tempfile.SpooledTemporaryFile(max_size=_READ_CHUNK)
    digest, total = hashlib.sha256(), 0
    while remaining is None or remaining > 0:
        chunk = _read_or_time_out(stream, _READ_CHUNK if remaining is None else min(_READ_CHUNK, remaining))
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise Refused("too-large", f"the request body is above this API's limit of {limit:,} bytes", code)
        digest.update(chunk)
        spool.write(chunk)
        if remaining is not None:
            remaining -= len(chunk)
    spool.seek(0)
    environ.pop("HTTP_TRANSFER_ENCODING", None)  # the app behind gets it whole, with its length
    environ["wsgi.input"] = spool
    environ["CONTENT_LENGTH"] = str(total)
    return digest.hexdigest()


def _answer(
    start_response: Callable[..., Any], environ: dict[str, Any], status: int, headers: dict[str, str], body: bytes
) -> list[bytes]:
    from http import HTTPStatus

    if environ.get("REQUEST_METHOD") == "HEAD":
        body = b""
    start_response(f"{status} {HTTPStatus(status).phrase}", [*headers.items(), ("Content-Length", str(len(body)))])
    return [body]
