"""Is a request to the local AWS signed with its credentials? SigV4 checked the way AWS checks it.

Header auth (`Authorization: AWS4-HMAC-SHA256 ...`), presigned URLs (`X-Amz-Signature` in the query, and S3's
older `AWSAccessKeyId`/`Signature` form that boto3 still makes by default) and S3's browser form POSTs (a signed
policy, v4 or the older form) are recomputed with botocore's own signer classes, limited to the headers the client
said it signed, and compared in constant time. S3's payload variants (a body hash, UNSIGNED-PAYLOAD, the
STREAMING-* forms) are covered by the seed signature over the `x-amz-content-sha256` header (chunk signatures
are not checked again); a stated body hash must match the body. Anything else (no auth, SigV2 headers, another
key) is refused.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote

from mlops_cli.local.core.credentials import LocalCredentials
from mlops_cli.local.core.scopes import s3_subresources, scope_problem

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = datetime.timedelta(minutes=15)  # AWS refuses header-signed requests further off than 15 minutes
MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600  # and presigned URLs valid for more than 7 days
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
# Form fields an S3 POST policy need not name (the bucket is the URL's, never a field here).
_UNNAMED_POST_FIELDS = frozenset({"policy", "signature", "x-amz-signature", "awsaccesskeyid", "file", "bucket"})
# What a header or query value of any shape can make the parsing or the signer raise (non-Latin-1 text, bad numbers).
_UNPARSEABLE = (UnicodeError, ValueError, TypeError, KeyError, OverflowError)


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: `kind` picks the AWS error code for the service's protocol."""

    kind: str  # "missing" | "unknown-key" | "signature" | "expired" | "body-hash" | "policy"
    message: str


@dataclass(frozen=True)
class SignedRequest:
    """What the verifier needs from an HTTP request: raw path and query (as sent), headers and body."""

    method: str
    raw_path: str  # percent-encoded, as on the request line
    raw_query: str
    headers: Mapping[str, str]  # lower-case names
    body_sha256: str  # hex SHA-256 of the body


def checked_before_body(request: SignedRequest) -> bool:
    """Whether `precheck` verifies the whole signature (it signs a stated x-amz-content-sha256, or is an S3
    presigned URL), so that only `body_refusal` is left once the body is read; else the body is read first."""
    if request.headers.get("authorization", ""):
        return bool(request.headers.get("x-amz-content-sha256"))
    presigned_s3 = (scope_of({}, request.raw_query) or ("",))[-1] == "s3"
    return presigned_s3 or "AWSAccessKeyId" in _query_params(request.raw_query)


def body_refusal(request: SignedRequest, body_sha256: str) -> Refusal | None:
    """The body, once read, against the hash the signature stated (UNSIGNED-PAYLOAD, STREAMING-*: none)."""
    stated = request.headers.get("x-amz-content-sha256", "")
    mismatch = request.headers.get("authorization") and len(stated) == 64 and not _equal(stated, body_sha256)
    return Refusal("body-hash", "the x-amz-content-sha256 you provided does not match the body") if mismatch else None


def precheck(request: SignedRequest, credentials: LocalCredentials) -> Refusal | None:
    """What can be refused before the body is read: no signature, another scheme, another key, and a wrong
    signature where it does not cover the body (`checked_before_body`: then only `body_refusal` is left to check)."""
    authorization = request.headers.get("authorization", "")
    query = _query_params(request.raw_query)
    if authorization:
        if not authorization.startswith(ALGORITHM + " "):
            return Refusal("signature", "only AWS4-HMAC-SHA256 (SigV4) signatures are accepted")
        key_id = (_parse_credential(_auth_fields(authorization).get("Credential", "")) or ("",))[0]
    elif "X-Amz-Credential" in query or "X-Amz-Signature" in query:
        key_id = (_parse_credential(query.get("X-Amz-Credential", "")) or ("",))[0]
    elif "AWSAccessKeyId" in query or "Signature" in query:
        key_id = query.get("AWSAccessKeyId", "")
    else:
        return Refusal("missing", "the request is not signed (every request needs this local AWS's credentials)")
    if not _equal(key_id, credentials.access_key_id):
        return Refusal("unknown-key", "the access key id is not this local AWS's")
    if checked_before_body(request):
        return verify(replace(request, body_sha256=request.headers.get("x-amz-content-sha256", "")), credentials)
    return None


def scope_of(headers: Mapping[str, str], raw_query: str) -> tuple[str, str] | None:
    """(region, service) a request was signed for, from its Authorization header or its presigned query."""
    credential = _auth_fields(headers.get("authorization", "")).get("Credential") or _query_params(raw_query).get(
        "X-Amz-Credential", ""
    )
    parts = credential.split("/")
    return (parts[2], parts[3]) if len(parts) == 5 else None


def access_key_of(headers: Mapping[str, str], raw_query: str) -> str:
    """The access key id a request names (header, presigned v4 or v2 query); "" when none."""
    query = _query_params(raw_query)
    credential = _auth_fields(headers.get("authorization", "")).get("Credential") or query.get("X-Amz-Credential")
    return (_parse_credential(credential or "") or (query.get("AWSAccessKeyId", ""),))[0]


def verify(
    request: SignedRequest, credentials: LocalCredentials, now: datetime.datetime | None = None
) -> Refusal | None:
    """None when the request is signed with `credentials`; otherwise why not."""
    now = now or datetime.datetime.now(datetime.UTC)
    authorization = request.headers.get("authorization", "")
    query = _query_params(request.raw_query)
    try:
        if authorization:
            return _verify_header(request, credentials, now, authorization)
        if "X-Amz-Signature" in query or "X-Amz-Credential" in query:
            return _verify_presigned(request, credentials, now, query)
        if "Signature" in query or "AWSAccessKeyId" in query:
            return _verify_presigned_v2(request, credentials, now, query)
    except _UNPARSEABLE as exc:  # a signature the signer cannot even read is no signature: 403, not 500
        return Refusal("signature", f"the request's signature cannot be read ({type(exc).__name__})")
    return Refusal("missing", "the request is not signed (every request needs this local AWS's credentials)")


def verify_post_policy(
    fields: Mapping[str, str],
    credentials: LocalCredentials,
    bucket: str,
    file_size: int | None,
    now: datetime.datetime | None = None,
) -> Refusal | None:
    """An S3 browser form POST: the policy must be signed with `credentials`, unexpired, and the form must meet
    its conditions, naming no field they do not
    (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html). `file_size` None: the
    file is not read yet, its size is not checked."""
    try:
        return _verify_post_policy(fields, credentials, bucket, file_size, now or datetime.datetime.now(datetime.UTC))
    except _UNPARSEABLE as exc:
        return Refusal("signature", f"the form's policy or signature cannot be read ({type(exc).__name__})")


def _verify_post_policy(
    fields: Mapping[str, str], credentials: LocalCredentials, bucket: str, file_size: int | None, now: datetime.datetime
) -> Refusal | None:
    fields = {name.lower(): value for name, value in fields.items()}
    if "policy" in fields and "awsaccesskeyid" in fields and "signature" in fields:  # the older (SigV2) form
        if not _equal(fields["awsaccesskeyid"], credentials.access_key_id):
            return Refusal("unknown-key", "the access key id is not this local AWS's")
        from botocore.auth import HmacV1Auth
        from botocore.credentials import Credentials

        signer = HmacV1Auth(Credentials(credentials.access_key_id, credentials.secret_access_key))
        if not _equal(signer.sign_string(fields["policy"]), fields["signature"]):
            return Refusal("signature", "the policy signature does not match")
    elif fields.get("x-amz-algorithm") == ALGORITHM and "policy" in fields and "x-amz-signature" in fields:
        scope = _parse_credential(fields.get("x-amz-credential", ""))
        if scope is None:
            return Refusal("signature", "malformed x-amz-credential")
        key_id, date, region, service = scope
        if not _equal(key_id, credentials.access_key_id):
            return Refusal("unknown-key", "the access key id is not this local AWS's")
        refusal = _scope_refusal_of(region, service)
        if refusal is not None:
            return refusal
        timestamp = fields.get("x-amz-date", "")
        if not timestamp.startswith(date):
            return Refusal("signature", "x-amz-date does not match the credential scope")
        expected = _signer(credentials, service, region).signature(fields["policy"], _Context(timestamp))
        if not _equal(expected, fields["x-amz-signature"]):
            return Refusal("signature", "the policy signature does not match")
    else:
        return Refusal("missing", "a form POST needs a signed policy (policy and its signature)")
    try:
        policy = json.loads(base64.b64decode(fields["policy"], validate=True))
        expiration = datetime.datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
        conditions = list(policy.get("conditions") or [])
    except (ValueError, KeyError, TypeError):
        return Refusal("signature", "the policy is not valid base64 JSON with an expiration")
    if expiration.tzinfo is None or expiration < now:
        return Refusal("expired", "the policy has expired")
    return _check_conditions(conditions, {**fields, "bucket": bucket}, file_size)


class _Context:
    """The minimum of an AWSRequest the signer's `signature` reads."""

    def __init__(self, timestamp: str):
        self.context = {"timestamp": timestamp}


@functools.cache
def _verifier_class(s3: bool) -> Any:
    """botocore's signer, told which headers the client signed and the body's hash instead of choosing them."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import HTTPHeaders

    base = S3SigV4Auth if s3 else SigV4Auth  # S3 signs the path as sent, the others normalise it

    class Verifier(base):  # type: ignore[misc,valid-type]
        signed_header_names: list[str] = []
        payload_hash = ""

        def headers_to_sign(self, request: Any) -> Any:
            """Exactly the headers the client listed in SignedHeaders (botocore would pick its own set)."""
            chosen = HTTPHeaders()
            for name in self.signed_header_names:
                chosen[name] = request.headers.get(name, "")
            return chosen

        def payload(self, request: Any) -> str:
            return self.payload_hash

    return Verifier


def _signer(
    credentials: LocalCredentials, service: str, region: str, headers: list[str] | None = None, payload_hash: str = ""
) -> Any:
    from botocore.credentials import Credentials

    signer = _verifier_class(service == "s3")(
        Credentials(credentials.access_key_id, credentials.secret_access_key), service, region
    )
    signer.signed_header_names, signer.payload_hash = headers or [], payload_hash
    return signer


def _verify_header(
    request: SignedRequest, credentials: LocalCredentials, now: datetime.datetime, authorization: str
) -> Refusal | None:
    if not authorization.startswith(ALGORITHM + " "):
        return Refusal("signature", "only AWS4-HMAC-SHA256 (SigV4) signatures are accepted")
    fields = _auth_fields(authorization)
    scope = _parse_credential(fields.get("Credential", ""))
    signed = [name for name in fields.get("SignedHeaders", "").lower().split(";") if name]
    if scope is None or not signed or "host" not in signed or "Signature" not in fields:
        return Refusal("signature", "malformed Authorization header")
    key_id, date, region, service = scope
    if not _equal(key_id, credentials.access_key_id):
        return Refusal("unknown-key", "the access key id is not this local AWS's")
    refusal = _scope_refusal_of(region, service) or _unsigned_headers(request, signed, service)
    if refusal is not None:
        return refusal
    timestamp = _timestamp(request.headers)
    if timestamp is None or not timestamp.startswith(date):
        return Refusal("signature", "missing or malformed X-Amz-Date, or not the credential scope's date")
    signed_at = datetime.datetime.strptime(timestamp, _TIMESTAMP).replace(tzinfo=datetime.UTC)
    if abs(now - signed_at) > MAX_SKEW:
        return Refusal("expired", "Signature expired: the request time is more than 15 minutes from the server's")
    stated = request.headers.get("x-amz-content-sha256")
    payload_hash = stated or request.body_sha256
    refusal = _compare(
        request,
        credentials,
        service,
        region,
        signed,
        payload_hash,
        timestamp,
        _canonical_query(request.raw_query),
        fields["Signature"],
    )
    if refusal is None and stated and len(stated) == 64 and stated != request.body_sha256:
        return Refusal("body-hash", "the x-amz-content-sha256 you provided does not match the body")
    return refusal


def _verify_presigned(
    request: SignedRequest, credentials: LocalCredentials, now: datetime.datetime, query: dict[str, str]
) -> Refusal | None:
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        return Refusal("signature", "only AWS4-HMAC-SHA256 (SigV4) presigned URLs are accepted")
    scope = _parse_credential(query.get("X-Amz-Credential", ""))
    signed = [name for name in query.get("X-Amz-SignedHeaders", "").lower().split(";") if name]
    if scope is None or "host" not in signed or "X-Amz-Signature" not in query:
        return Refusal("signature", "malformed presigned URL")
    key_id, date, region, service = scope
    if not _equal(key_id, credentials.access_key_id):
        return Refusal("unknown-key", "the access key id is not this local AWS's")
    refusal = _scope_refusal_of(region, service) or _unsigned_headers(request, signed, service)
    if refusal is not None:
        return refusal
    timestamp = query.get("X-Amz-Date", "")
    try:
        signed_at = datetime.datetime.strptime(timestamp, _TIMESTAMP).replace(tzinfo=datetime.UTC)
        expires = int(query.get("X-Amz-Expires", ""))
    except ValueError:
        return Refusal("signature", "malformed X-Amz-Date or X-Amz-Expires")
    if not timestamp.startswith(date) or not 0 < expires <= MAX_PRESIGN_EXPIRES_S:
        return Refusal("signature", "X-Amz-Date or X-Amz-Expires out of range")
    if now > signed_at + datetime.timedelta(seconds=expires) or signed_at - now > MAX_SKEW:
        return Refusal("expired", "Request has expired")
    # S3 presigned URLs sign no payload; other services' presigned (GET) requests hash the (empty) body.
    payload_hash = UNSIGNED_PAYLOAD if service == "s3" else request.body_sha256
    canonical_query = _canonical_query(request.raw_query, drop="X-Amz-Signature")
    return _compare(
        request,
        credentials,
        service,
        region,
        signed,
        payload_hash,
        timestamp,
        canonical_query,
        query["X-Amz-Signature"],
    )


def _verify_presigned_v2(
    request: SignedRequest, credentials: LocalCredentials, now: datetime.datetime, query: dict[str, str]
) -> Refusal | None:
    """S3's older presigned URLs (AWSAccessKeyId, Expires, Signature): what boto3's generate_presigned_url and
    `aws s3 presign` still make for S3 unless told to use s3v4."""
    from urllib.parse import urlsplit

    from botocore.auth import HmacV1Auth
    from botocore.awsrequest import HTTPHeaders
    from botocore.credentials import Credentials

    if not _equal(query.get("AWSAccessKeyId", ""), credentials.access_key_id):
        return Refusal("unknown-key", "the access key id is not this local AWS's")
    try:
        expires = int(query.get("Expires", ""))
    except ValueError:
        return Refusal("signature", "malformed Expires")
    if expires < now.timestamp():
        return Refusal("expired", "Request has expired")
    if expires > now.timestamp() + MAX_PRESIGN_EXPIRES_S:
        return Refusal("signature", "Expires is more than 7 days away")
    unsigned = sorted(name for name in query if name in s3_subresources() and name not in HmacV1Auth.QSAOfInterest)
    if unsigned:  # `?legal-hold` on a presigned PUT would make it PutObjectLegalHold
        return Refusal("signature", f"the query names subresources the signature does not cover: {', '.join(unsigned)}")

    class Verifier(HmacV1Auth):
        def _get_date(self) -> str:
            return str(expires)  # query auth signs Expires where header auth signs Date

    headers = HTTPHeaders()
    for name, value in request.headers.items():
        if name in ("content-md5", "content-type") or name.startswith("x-amz-"):
            headers[name] = value
    verifier = Verifier(Credentials(credentials.access_key_id, credentials.secret_access_key))
    split = urlsplit(f"http://local{request.raw_path}?{request.raw_query}")
    expected = verifier.sign_string(verifier.canonical_string(request.method, split, headers))
    if not _equal(expected, query.get("Signature", "")):
        return Refusal(
            "signature",
            "The request signature we calculated does not match the signature you "
            "provided. Check your AWS Secret Access Key and signing method.",
        )
    return None


def _compare(
    request: SignedRequest,
    credentials: LocalCredentials,
    service: str,
    region: str,
    signed: list[str],
    payload_hash: str,
    timestamp: str,
    canonical_query: str,
    given: str,
) -> Refusal | None:
    from botocore.awsrequest import AWSRequest

    signer = _signer(credentials, service, region, signed, payload_hash)
    headers = {name: request.headers.get(name, "") for name in signed}
    aws_request = AWSRequest(method=request.method, url=f"http://{headers['host']}{request.raw_path}", headers=headers)
    aws_request.context["timestamp"] = timestamp
    signer.canonical_query_string = lambda _request: canonical_query
    # canonical_request takes the body hash from X-Amz-Content-SHA256 when it was signed; else from payload().
    canonical = signer.canonical_request(aws_request)
    expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
    if not _equal(expected, given.strip()):
        return Refusal(
            "signature",
            "The request signature we calculated does not match the signature you "
            "provided. Check your AWS Secret Access Key and signing method.",
        )
    return None


def _equal(given: str, expected: str) -> bool:
    """Constant-time equality of two texts, whatever characters the request put in them (hmac.compare_digest
    raises TypeError on non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def _unsigned_headers(request: SignedRequest, signed: list[str], service: str) -> Refusal | None:
    """AWS refuses an `x-amz-*` header that the signature does not cover: whoever holds a presigned URL (or sees a
    signed request) must not add, say, `x-amz-copy-source` or `x-amz-meta-*` to it."""
    unsigned = sorted(name for name in request.headers if name.startswith("x-amz-") and name not in signed)
    names = ", ".join(unsigned)
    message = f"There were headers present in the request which were not signed: HeadersNotSigned: {names}"
    return Refusal("forbidden" if service == "s3" else "signature", message) if unsigned else None


def _scope_refusal_of(region: str, service: str) -> Refusal | None:
    problem = scope_problem(region, service)
    return Refusal("signature", problem) if problem else None


def _auth_fields(authorization: str) -> dict[str, str]:
    """Credential=..., SignedHeaders=..., Signature=... of an Authorization header."""
    _, _, rest = authorization.partition(" ")
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value
    return fields


def _parse_credential(credential: str) -> tuple[str, str, str, str] | None:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        return None
    return parts[0], parts[1], parts[2], parts[3]


def _timestamp(headers: Mapping[str, str]) -> str | None:
    """The signing time: X-Amz-Date, or an HTTP Date header (SigV4 allows either)."""
    value = headers.get("x-amz-date")
    try:
        if value:
            datetime.datetime.strptime(value, _TIMESTAMP)
            return value
        if headers.get("date"):
            return parsedate_to_datetime(headers["date"]).astimezone(datetime.UTC).strftime(_TIMESTAMP)
    except (ValueError, TypeError):
        return None
    return None


def _query_params(raw_query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in raw_query.split("&") if raw_query else []:
        name, _, value = pair.partition("=")
        params.setdefault(unquote(name), unquote(value))
    return params


def _canonical_query(raw_query: str, drop: str = "") -> str:
    """SigV4's canonical query string: names and values decoded, re-encoded the RFC 3986 way, sorted."""
    pairs = []
    for pair in raw_query.split("&") if raw_query else []:
        name, _, value = pair.partition("=")
        name, value = unquote(name), unquote(value)
        if name != drop:
            pairs.append((quote(name, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def _check_conditions(conditions: list[Any], fields: dict[str, str], file_size: int | None) -> Refusal | None:
    """The policy's eq / starts-with / content-length-range conditions against the form's fields; a field no
    condition names is refused as S3 refuses it (all but the policy, the signature and the file themselves, and
    `x-ignore-*`)."""
    named = {
        str(name).lstrip("$").lower()
        for condition in conditions
        for name in (
            condition if isinstance(condition, dict) else condition[1:2] if isinstance(condition, list) else []
        )
    }
    extra = [
        name
        for name in fields
        if name not in named and name not in _UNNAMED_POST_FIELDS and not name.startswith("x-ignore-")
    ]
    if extra:
        return Refusal("policy", f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")
    for condition in conditions:
        if isinstance(condition, dict):
            checks = [("eq", f"${name}", value) for name, value in condition.items()]
        elif isinstance(condition, list) and len(condition) == 3:
            checks = [tuple(condition)]
        else:
            return Refusal("signature", f"policy condition {condition!r} is malformed")
        for operator, name, value in checks:
            if operator == "content-length-range":
                if file_size is not None and not int(name) <= file_size <= int(value):
                    return Refusal("policy", f"the file's size is outside the policy's {condition}")
                continue
            actual = fields.get(str(name).lstrip("$").lower(), "")
            if (
                operator == "eq"
                and actual != str(value)
                or operator == "starts-with"
                and not actual.startswith(str(value))
            ):
                return Refusal("policy", f"Invalid according to Policy: Policy Condition failed: {condition}")
    return None
