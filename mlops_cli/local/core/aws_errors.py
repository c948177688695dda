"""Errors the local AWS answers itself (refused, malformed, too large, internal), in the shape the caller's
protocol expects: S3's XML, the query protocols' XML (EC2 has its own), or the JSON protocols' JSON, so SDKs
and the AWS CLI raise their usual ClientError with AWS's code."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from xml.sax.saxutils import escape

# Which code AWS answers with, per protocol, for each reason the local AWS refuses a request itself.
_CODES: dict[str, dict[str, tuple[str, int]]] = {
    "missing": {
        "s3": ("AccessDenied", 403),
        "json": ("MissingAuthenticationTokenException", 403),
        "query": ("MissingAuthenticationToken", 403),
        "ec2": ("AuthFailure", 401),
    },
    "unknown-key": {
        "s3": ("InvalidAccessKeyId", 403),
        "json": ("UnrecognizedClientException", 403),
        "query": ("InvalidClientTokenId", 403),
        "ec2": ("AuthFailure", 401),
    },
    "signature": {
        "s3": ("SignatureDoesNotMatch", 403),
        "json": ("InvalidSignatureException", 403),
        "query": ("SignatureDoesNotMatch", 403),
        "ec2": ("AuthFailure", 401),
    },
    "expired": {
        "s3": ("AccessDenied", 403),
        "json": ("InvalidSignatureException", 403),
        "query": ("SignatureDoesNotMatch", 403),
        "ec2": ("AuthFailure", 401),
    },
    "expired-token": {  # a role session's keys past their Expiration
        "s3": ("ExpiredToken", 400),
        "json": ("ExpiredTokenException", 400),
        "query": ("ExpiredToken", 403),
        "ec2": ("RequestExpired", 400),
    },
    "body-hash": {
        "s3": ("XAmzContentSHA256Mismatch", 400),
        "json": ("InvalidSignatureException", 403),
        "query": ("SignatureDoesNotMatch", 403),
        "ec2": ("AuthFailure", 401),
    },
    "policy": {
        "s3": ("AccessDenied", 403),
        "json": ("AccessDeniedException", 403),
        "query": ("AccessDenied", 403),
        "ec2": ("UnauthorizedOperation", 403),
    },
    "forbidden": {
        "s3": ("AccessDenied", 403),
        "json": ("AccessDeniedException", 403),
        "query": ("AccessDenied", 403),
        "ec2": ("UnauthorizedOperation", 403),
    },
    "malformed": {
        "s3": ("MalformedXML", 400),
        "json": ("SerializationException", 400),
        "query": ("MalformedQueryString", 400),
        "ec2": ("InvalidParameterValue", 400),
    },
    "too-large": {
        "s3": ("EntityTooLarge", 400),
        "json": ("RequestEntityTooLargeException", 413),
        "query": ("RequestEntityTooLarge", 413),
        "ec2": ("RequestEntityTooLarge", 413),
    },
    "request-timeout": {
        "s3": ("RequestTimeout", 400),
        "json": ("RequestTimeoutException", 408),
        "query": ("RequestTimeout", 400),
        "ec2": ("RequestTimeout", 400),
    },
    "unknown-operation": {
        "s3": ("NotImplemented", 501),
        "json": ("UnknownOperationException", 400),
        "query": ("InvalidAction", 400),
        "ec2": ("InvalidAction", 400),
    },
    "not-implemented": {
        "s3": ("NotImplemented", 501),
        "json": ("NotImplemented", 501),
        "query": ("NotImplemented", 501),
        "ec2": ("NotImplemented", 501),
    },
    "internal": {
        "s3": ("InternalError", 500),
        "json": ("InternalFailure", 500),
        "query": ("InternalFailure", 500),
        "ec2": ("InternalError", 500),
    },
}
_REST_JSON_PATH = re.compile(r"^/(\d{4}-\d{2}-\d{2}/|endpoints/)")  # Lambda's dated API paths, InvokeEndpoint
_QUERY_SERVICES = {"sts", "iam", "autoscaling", "cloudformation", "sns", "sqs", "elasticloadbalancing", "rds"}


def protocol_of(service: str, headers: Mapping[str, str], path: str) -> str:
    """ "s3", "query", "ec2" or "json" (awsJson and restJson errors are both JSON) for a request."""
    content_type = headers.get("content-type", "")
    if service == "s3":
        return "s3"
    if service == "ec2":
        return "ec2"
    if "x-amz-target" in headers or "json" in content_type:
        return "json"
    if service in _QUERY_SERVICES or content_type.startswith("application/x-www-form-urlencoded"):
        return "query"
    if service or _REST_JSON_PATH.match(path):
        return "json"
    return "s3"  # an unsigned request names no service: S3's paths are anything (browsers' form POSTs are S3's)


def error(kind: str, protocol: str, message: str, code: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of AWS's error for `kind` in `protocol`; `code` overrides the usual code."""
    usual, status = _CODES[kind][protocol]
    return (status, *shaped(protocol, code or usual, message, status))


def shaped(protocol: str, code: str, message: str, status: int = 400) -> tuple[dict[str, str], bytes]:
    """(headers, body) of an error in a protocol's shape, what botocore's parsers read the code and message from.
    Protocols as botocore's models name them ("json", "rest-json", "query", "ec2", "rest-xml"), or "s3"."""
    request_id = str(uuid.uuid4())
    if protocol in ("json", "rest-json"):
        body = json.dumps({"__type": code, "message": message}).encode()
        content_type = "application/json" if protocol == "rest-json" else "application/x-amz-json-1.1"
        return {"Content-Type": content_type, "x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}, body
    code_xml, message_xml = escape(code), escape(message)
    if protocol in ("s3", "rest-xml"):
        text = (
            f"<Error><Code>{code_xml}</Code><Message>{message_xml}</Message><RequestId>{request_id}</RequestId></Error>"
        )
    elif protocol == "ec2":
        text = (
            f"<Response><Errors><Error><Code>{code_xml}</Code><Message>{message_xml}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
    else:
        kind_xml = "Receiver" if status >= 500 else "Sender"
        text = (
            f"<ErrorResponse><Error><Type>{kind_xml}</Type><Code>{code_xml}</Code>"
            f"<Message>{message_xml}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n{text}'.encode()
    return {"Content-Type": "application/xml", "x-amz-request-id": request_id, "x-amzn-RequestId": request_id}, body
