"""The one call the front door makes after SigV4 (mlops_cli.local.core.guard): may this caller make this request?

The root (the instance's own keys) may do anything. Any other caller's request is broken into AWS's checks
(requests.py) and each is evaluated against the caller's policies (evaluate.py); the first that is not allowed
is refused with AWS's wording, e.g. "User: arn:aws:iam::123456789012:user/ci is not authorized to perform:
sagemaker:AddTags on resource: arn:aws:sagemaker:...:training-job/x because no identity-based policy allows the
sagemaker:AddTags action" (IAM User Guide, "Troubleshooting access denied error messages").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlops_cli.common.iam_checks import NO_PERMISSION_NEEDED
from mlops_cli.local.iam.evaluate import Check, decide, decide_trust
from mlops_cli.local.iam.principals import ACCOUNT, Caller

# S3 bodies above this are object data (PutObject, UploadPart, a POST upload: up to 5 GiB, spooled to disk by the
# front door), authorized by the path, query and headers alone: they are not read into memory here. Below it are
# the requests whose body names what they act on (DeleteObjects' 1,000 keys at most).
S3_BODY_READ_MAX = 2 * 1024 * 1024


def denial(
    caller: Caller, environ: dict[str, Any], headers: Mapping[str, str], service: str, region: str
) -> str | None:
    """None when the caller may make the request; otherwise AWS's message for the first check it fails."""
    if caller.is_root:
        return None
    from mlops_cli.local.core.validate import parse
    from mlops_cli.local.iam.requests import checks

    stream = environ["wsgi.input"]
    body = b"" if service == "s3" and int(environ.get("CONTENT_LENGTH") or 0) > S3_BODY_READ_MAX else stream.read()
    stream.seek(0)
    call = parse(environ, body, service, dict(headers))
    if call is not None:
        found = checks(call.service, call.operation, call.params, region, ACCOUNT, str(caller.arn))
    else:  # a service the local AWS does not model strictly: the action by its operation name, on `*`
        from urllib.parse import parse_qs

        target = headers.get("x-amz-target", "").rpartition(".")[2]
        target = target or parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
        found = [Check(f"{service}:{target or environ.get('REQUEST_METHOD', '')}", "*")]
    for check in found:
        if check.action in NO_PERMISSION_NEEDED:
            continue
        decision = decide(caller.policies, check)
        if decision != "allow":
            refused = message(str(caller.arn), check, decision == "deny")
            # EC2 says it first (EC2 API Reference, "Error codes": UnauthorizedOperation).
            return f"You are not authorized to perform this operation. {refused}" if service == "ec2" else refused
    if call is not None and (call.service, call.operation) == ("sts", "AssumeRole"):
        return _untrusted(str(caller.arn), str(call.params.get("RoleArn") or ""))
    return None


def _untrusted(caller_arn: str, role_arn: str) -> str | None:
    """AWS's refusal when the role's trust policy does not allow the caller to assume it (its identity policy
    allowing sts:AssumeRole is not enough: IAM User Guide, "Granting a user permissions to switch roles")."""
    from mlops_cli.local.moto_compat.records.iam import trust_policy

    principals = [caller_arn, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT]
    if ":assumed-role/" in caller_arn:  # a role session is named in trust policies by its role's ARN
        principals.append(f"arn:aws:iam::{ACCOUNT}:role/{caller_arn.split(':assumed-role/', 1)[1].split('/')[0]}")
    check = Check("sts:AssumeRole", role_arn, {"aws:principalarn": [caller_arn]})
    try:  # moto's IAMNotFoundException for no such role, or a document that is not JSON: refused
        document = json.loads(trust_policy(ACCOUNT, role_arn))
    except Exception:
        document = None
    if isinstance(document, dict) and decide_trust(document, principals, check) == "allow":
        return None
    return f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


def message(caller_arn: str, check: Check, explicit: bool) -> str:
    on = f" on resource: {check.resource}" if check.resource != "*" else ""
    why = (
        "with an explicit deny in an identity-based policy"
        if explicit
        else f"because no identity-based policy allows the {check.action} action"
    )
    return f"User: {caller_arn} is not authorized to perform: {check.action}{on} {why}"
