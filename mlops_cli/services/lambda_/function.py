"""`mlops lambda deploy` and `mlops lambda invoke`: the function in front of the endpoint, with its own role.

The deployment package is one file, `handler.py` (mlops_cli/lambda_function/handler.py), in a zip built
byte-for-byte the same from the same source (stored, fixed timestamp and mode), so its sha256 equals the
function's `CodeSha256` when nothing changed and the code is not uploaded again.

The execution role `<project>-lambda-invoke` trusts only `lambda.amazonaws.com`, for this account
(`aws:SourceAccount`), and carries exactly one inline policy: `sagemaker:InvokeEndpoint` on the one endpoint
and writing to the function's own log group (the document `audit-iam` checks the role against:
`iam_policies.lambda_invoke_policy`). Any other policy found on it (attached managed policies such as a
FullAccess one, other inline policies) is removed.

Deploying reads what exists, then plans only the requests that change something: role, trust, policy,
function code (when the sha256 differs), configuration, tags, a new version (only when the alias does not
already point at a version equal to the desired code and configuration) and the alias. Nothing to change
gives an empty plan.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.aws import absent_on
from mlops_cli.errors import OperationError, UsageError, refused
from mlops_cli.plan import Plan, Ref, Retry, Step, Waiter
from mlops_cli.plan.sends import sends
from mlops_cli.services import naming
from mlops_cli.services.iam import policies as iam_policies
from mlops_cli.services.iam.propagation import ROLE_PROPAGATION_S, lambda_cannot_assume
from mlops_cli.services.training.packaging import FIXED_MTIME

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

ClientFor = Callable[[str], Any]

HANDLER_SOURCE = Path(__file__).resolve().parents[2] / "lambda_function" / "handler.py"
ZIP_ENTRY = "handler.py"
HANDLER = "handler.lambda_handler"
RUNTIME = "python3.12"
# The code is pure Python (boto3 comes with the runtime): Graviton is the cheaper architecture for it.
ARCHITECTURE = "arm64"
POLICY_NAME = "invoke-endpoint-and-write-logs"
# Stands for the version PublishVersion returns; versions start at 1, so "0" is a valid shape no real version has.
PUBLISHED_VERSION = Ref("version", "Version", placeholder="0")
# The configuration compared with $LATEST's; a published version's Description is only a label (and
# PublishVersion returns the last version unchanged when nothing changed), so versions are compared without it.
COMPARED_CONFIG = ("Runtime", "Role", "Handler", "Timeout", "MemorySize", "Environment", "Description")
VERSION_LABELS = ("Description",)
# Lambda's synchronous invocation payload limit.
MAX_INVOKE_PAYLOAD = 6 * 1024 * 1024


# ---------------------------------------------------------------------------------------------- the package


class ZipPayload(bytes):
    """The zip bytes, shown in a printed plan as a short summary instead of the bytes themselves."""

    def __str__(self) -> str:
        return f"<zip of {ZIP_ENTRY}: {len(self)} bytes, sha256 {code_sha256(self)}>"


def code_sha256(data: bytes) -> str:
    """Lambda's `CodeSha256`: the base64 of the package's sha256 digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def build_package(source: Path = HANDLER_SOURCE) -> ZipPayload:
    """The deployment zip: one stored entry with a fixed timestamp and mode, so the same code gives the same bytes."""
    entry = zipfile.ZipInfo(ZIP_ENTRY, date_time=time.gmtime(FIXED_MTIME)[:6])
    entry.create_system = 3  # Unix, so the mode below is honoured
    entry.external_attr = (0o100644 & 0xFFFF) << 16
    entry.compress_type = zipfile.ZIP_STORED  # deflate output may differ between zlib versions
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(entry, source.read_bytes())
    return ZipPayload(buffer.getvalue())


# ---------------------------------------------------------------------------------------------- the role


def policy_json(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))


def same_document(found: Any, wanted: dict[str, Any]) -> bool:
    """IAM returns documents URL-decoded as dicts (boto3) or as JSON text; compare their content."""
    if isinstance(found, str):
        try:
            found = json.loads(found)
        except (ValueError, RecursionError):
            return False
    return _canonical(found) == _canonical(wanted)


def _canonical(value: Any) -> Any:
    """Singleton lists and plain strings mean the same in a policy; key order never matters."""
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        items = [_canonical(item) for item in value]
        return items[0] if len(items) == 1 else sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value


# ---------------------------------------------------------------------------------------------- desired state


@dataclass(frozen=True)
class LambdaSpec:
    """Everything the deployment should end up as."""

    function_name: str
    endpoint_name: str
    role_name: str
    alias: str
    memory_mb: int
    timeout_s: int
    region: str
    account: str
    partition: str
    project: str
    policy: dict[str, Any]  # the role's one inline policy
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Config, account: str, partition: str) -> LambdaSpec:
        return cls(
            policy=iam_policies.lambda_invoke_policy(config, account, partition),
            function_name=config.function_name,
            endpoint_name=config.endpoint_name,
            role_name=naming.lambda_role_name(config),
            alias=config.lambda_.alias,
            memory_mb=config.lambda_.memory_mb,
            timeout_s=config.lambda_.timeout_s,
            region=config.aws.region,
            account=account,
            partition=partition,
            project=config.project,
            tags=naming.tag_map(config),
        )

    @property
    def role_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{self.role_name}"

    @property
    def trust(self) -> dict[str, Any]:
        return iam_policies.assume_role_policy("lambda.amazonaws.com", self.account)

    def configuration(self) -> dict[str, Any]:
        """The function configuration, in the request shape of Create/UpdateFunctionConfiguration."""
        return {
            "Runtime": RUNTIME,
            "Role": self.role_arn,
            "Handler": HANDLER,
            "Timeout": self.timeout_s,
            "MemorySize": self.memory_mb,
            "Environment": {"Variables": {"ENDPOINT_NAME": self.endpoint_name}},
            "Description": f"mlops {self.project}: predictions from SageMaker endpoint {self.endpoint_name}",
        }


# ---------------------------------------------------------------------------------------------- current state


@dataclass
class Observed:
    """What exists now (None: absent)."""

    role: dict[str, Any] | None = None
    inline_policies: dict[str, Any] = field(default_factory=dict)
    attached_policies: list[str] = field(default_factory=list)
    function: dict[str, Any] | None = None  # GetFunction's Configuration
    function_tags: dict[str, str] = field(default_factory=dict)
    alias: dict[str, Any] | None = None
    alias_configuration: dict[str, Any] | None = None  # the configuration of the version the alias points at
    endpoint_status: str | None = None  # None: the endpoint does not exist (yet)


@sends("iam", "GetRole", "ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies")
@sends("lambda", "GetFunction", "GetAlias", "GetFunctionConfiguration")
@sends("sagemaker", "DescribeEndpoint")
def observe(client_for: ClientFor, spec: LambdaSpec) -> Observed:
    iam, lam, sagemaker = client_for("iam"), client_for("lambda"), client_for("sagemaker")
    found = Observed()
    role = absent_on(("NoSuchEntity",), lambda: iam.get_role(RoleName=spec.role_name))
    if role:
        found.role = role["Role"]
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=spec.role_name):
            for name in page["PolicyNames"]:
                found.inline_policies[name] = iam.get_role_policy(RoleName=spec.role_name, PolicyName=name)[
                    "PolicyDocument"
                ]
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=spec.role_name):
            found.attached_policies += [policy["PolicyArn"] for policy in page["AttachedPolicies"]]
    function = absent_on(("ResourceNotFoundException",), lambda: lam.get_function(FunctionName=spec.function_name))
    if function:
        found.function = function["Configuration"]
        found.function_tags = function.get("Tags") or {}
        alias = absent_on(
            ("ResourceNotFoundException",), lambda: lam.get_alias(FunctionName=spec.function_name, Name=spec.alias)
        )
        if alias:
            found.alias = alias
            found.alias_configuration = lam.get_function_configuration(
                FunctionName=spec.function_name, Qualifier=alias["FunctionVersion"]
            )
    endpoint = absent_on(
        ("ValidationException", "ResourceNotFound"),
        lambda: sagemaker.describe_endpoint(EndpointName=spec.endpoint_name),
    )
    found.endpoint_status = endpoint["EndpointStatus"] if endpoint else None
    return found


def _config_differences(current: dict[str, Any], wanted: dict[str, Any], ignore: tuple[str, ...] = ()) -> list[str]:
    differences = []
    for key in COMPARED_CONFIG:
        if key in ignore:
            continue
        have = current.get(key)
        if key == "Environment":
            have = {"Variables": (have or {}).get("Variables", {})}
        if have != wanted[key]:
            differences.append(key)
    return differences


def matches(configuration: dict[str, Any] | None, spec: LambdaSpec, sha256: str) -> bool:
    """Whether a function version has exactly the desired code, configuration and architecture."""
    return (
        configuration is not None
        and configuration.get("CodeSha256") == sha256
        and configuration.get("Architectures", ["x86_64"]) == [ARCHITECTURE]
        and not _config_differences(configuration, spec.configuration(), ignore=VERSION_LABELS)
    )


# ---------------------------------------------------------------------------------------------- the plan


def plan_deploy(spec: LambdaSpec, package: ZipPayload, found: Observed) -> Plan:
    plan = Plan(f"deploy Lambda function {spec.function_name} (alias {spec.alias}) for endpoint {spec.endpoint_name}")
    _plan_role(plan, spec, found)
    sha256 = code_sha256(package)
    configuration = spec.configuration()
    function_changes = False
    if found.function is None:
        role_is_new = found.role is None
        plan.add(
            "lambda",
            "CreateFunction",
            {
                "FunctionName": spec.function_name,
                **configuration,
                "Role": Ref("role", "Role", "Arn", placeholder=spec.role_arn) if role_is_new else spec.role_arn,
                "Code": {"ZipFile": package},
                "Architectures": [ARCHITECTURE],
                "PackageType": "Zip",
                "Publish": False,
                "Tags": spec.tags,
            },
            note="new function",
            retry=Retry(lambda_cannot_assume, ROLE_PROPAGATION_S, "the new IAM role is not assumable yet")
            if role_is_new
            else None,
            wait=_ready(spec.function_name, "function_active_v2"),
        )
        function_changes = True
    else:
        updating = found.function.get("CodeSha256") != sha256 or found.function.get("Architectures") != [ARCHITECTURE]
        differences = _config_differences(found.function, configuration)
        if updating or differences:
            plan.add(
                "lambda",
                "GetFunctionConfiguration",
                {"FunctionName": spec.function_name},
                note="an earlier update must have finished first",
                wait=_ready(spec.function_name, "function_updated_v2"),
            )
        if updating:
            plan.add(
                "lambda",
                "UpdateFunctionCode",
                {
                    "FunctionName": spec.function_name,
                    "ZipFile": package,
                    "Architectures": [ARCHITECTURE],
                },
                note=f"code sha256 {found.function.get('CodeSha256')} -> {sha256}",
                wait=_ready(spec.function_name, "function_updated_v2"),
            )
            function_changes = True
        if differences:
            plan.add(
                "lambda",
                "UpdateFunctionConfiguration",
                {"FunctionName": spec.function_name, **configuration},
                note="changed: " + ", ".join(differences),
                wait=_ready(spec.function_name, "function_updated_v2"),
            )
            function_changes = True
        missing_tags = {key: value for key, value in spec.tags.items() if found.function_tags.get(key) != value}
        if missing_tags:
            plan.add(
                "lambda",
                "TagResource",
                {"Resource": found.function["FunctionArn"].split(":$LATEST")[0], "Tags": missing_tags},
            )
    if function_changes or not matches(found.alias_configuration, spec, sha256):
        plan.add(
            "lambda",
            "PublishVersion",
            {
                "FunctionName": spec.function_name,
                "CodeSha256": sha256,
            },
            note="a version is immutable: the alias points at it",
            name="version",
        )
        operation = "UpdateAlias" if found.alias else "CreateAlias"
        plan.add(
            "lambda",
            operation,
            {"FunctionName": spec.function_name, "Name": spec.alias, "FunctionVersion": PUBLISHED_VERSION},
            "the alias points at the version just published",
        )
    return plan


def _ready(function_name: str, waiter: str) -> Waiter:
    """Until the function's creation (`function_active_v2`) or last update (`function_updated_v2`) finished."""
    return Waiter(waiter, {"FunctionName": function_name}, "lambda", explain=_not_ready)


@sends("lambda", "GetFunctionConfiguration")
def _not_ready(client_for: ClientFor, params: dict[str, Any]) -> OperationError:
    """Why the function did not become ready, from its configuration."""
    configuration = client_for("lambda").get_function_configuration(**params)
    reason = configuration.get("LastUpdateStatusReason") or configuration.get("StateReason") or "no reason given"
    return OperationError(
        f"Lambda function {params['FunctionName']} did not become ready "
        f"(State {configuration.get('State')}, LastUpdateStatus "
        f"{configuration.get('LastUpdateStatus')}): {reason}"
    )


def _plan_role(plan: Plan, spec: LambdaSpec, found: Observed) -> None:
    iam_tags = [{"Key": key, "Value": value} for key, value in spec.tags.items()]
    if found.role is None:
        plan.add(
            "iam",
            "CreateRole",
            name="role",
            params={
                "RoleName": spec.role_name,
                "AssumeRolePolicyDocument": policy_json(spec.trust),
                "Description": f"Lambda {spec.function_name}: invoke SageMaker endpoint {spec.endpoint_name}, "
                "write its logs",
                "Tags": iam_tags,
            },
            note="trusts only lambda.amazonaws.com for this account",
        )
    else:
        if not same_document(found.role.get("AssumeRolePolicyDocument"), spec.trust):
            plan.add(
                "iam", "UpdateAssumeRolePolicy", {"RoleName": spec.role_name, "PolicyDocument": policy_json(spec.trust)}
            )
        have_tags = {tag["Key"]: tag["Value"] for tag in found.role.get("Tags") or []}
        missing = [tag for tag in iam_tags if have_tags.get(tag["Key"]) != tag["Value"]]
        if missing:
            plan.add("iam", "TagRole", {"RoleName": spec.role_name, "Tags": missing})
    for arn in found.attached_policies:
        plan.add(
            "iam",
            "DetachRolePolicy",
            {"RoleName": spec.role_name, "PolicyArn": arn},
            note="the role keeps only its one least-privilege inline policy",
        )
    for name in sorted(found.inline_policies):
        if name != POLICY_NAME:
            plan.add(
                "iam",
                "DeleteRolePolicy",
                {"RoleName": spec.role_name, "PolicyName": name},
                note="the role keeps only its one least-privilege inline policy",
            )
    current = found.inline_policies.get(POLICY_NAME)
    if current is None or not same_document(current, spec.policy):
        plan.add(
            "iam",
            "PutRolePolicy",
            {"RoleName": spec.role_name, "PolicyName": POLICY_NAME, "PolicyDocument": policy_json(spec.policy)},
            note="sagemaker:InvokeEndpoint on the endpoint; logs on the function's own log group",
            action="create" if current is None else "update",
        )


# ---------------------------------------------------------------------------------------------- running it


@dataclass
class DeployResult:
    function_name: str
    function_arn: str
    alias: str
    alias_arn: str
    version: str
    endpoint: str
    endpoint_status: str | None
    role_arn: str
    code_sha256: str
    changes: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function_name,
            "function_arn": self.function_arn,
            "alias": self.alias,
            "alias_arn": self.alias_arn,
            "version": self.version,
            "endpoint": self.endpoint,
            "endpoint_status": self.endpoint_status,
            "role_arn": self.role_arn,
            "code_sha256": self.code_sha256,
            "changed": bool(self.changes),
            "changes": self.changes,
        }


def describe_step(step: Step) -> str:
    params = step.params
    target = (
        params.get("PolicyName")
        or params.get("PolicyArn")
        or params.get("Name")
        or params.get("RoleName")
        or params.get("FunctionName")
        or params.get("Resource")
        or ""
    )
    return f"{step.operation} {target}".strip()


def changes(plan: Plan) -> list[str]:
    """The plan's changes, one line each (what it reads first is not a change)."""
    return [describe_step(step) for step in plan.steps if step.kind != "read"]


@sends("lambda", "GetFunctionConfiguration", "GetAlias")
def deploy_result(
    client_for: ClientFor, spec: LambdaSpec, found: Observed, package: ZipPayload, plan: Plan
) -> DeployResult:
    """What the function and its alias are once the plan ran."""
    lam = client_for("lambda")
    function = lam.get_function_configuration(FunctionName=spec.function_name)
    alias = lam.get_alias(FunctionName=spec.function_name, Name=spec.alias)
    return DeployResult(
        function_name=spec.function_name,
        function_arn=function["FunctionArn"],
        alias=spec.alias,
        alias_arn=alias["AliasArn"],
        version=str(alias["FunctionVersion"]),
        endpoint=spec.endpoint_name,
        endpoint_status=found.endpoint_status,
        role_arn=spec.role_arn,
        code_sha256=code_sha256(package),
        changes=changes(plan),
    )


# ---------------------------------------------------------------------------------------------- invoking


def invocation_event(image: Path | None = None, url: str | None = None, top_k: int | None = None) -> dict[str, Any]:
    """The direct-invocation event for an image file or a URL."""
    if (image is None) == (url is None):
        raise UsageError("give either an IMAGE file or --url, not both and not neither")
    event: dict[str, Any] = {}
    if url is not None:
        if not re.match(r"^https?://", url, re.IGNORECASE):  # what the function would refuse, refused here
            raise UsageError(f"--url: only http:// and https:// URLs can be sent, not '{url}'")
        event["url"] = url
    else:
        if image.is_dir():  # type: ignore[union-attr]
            raise UsageError(f"{image} is a directory, not an image file")
        if image.exists() and not image.is_file():  # type: ignore[union-attr]
            raise UsageError(f"{image} is not a regular file (a device, FIFO or socket), not an image file")
        try:
            with open(image, "rb") as stream:  # type: ignore[arg-type]
                data = stream.read(MAX_INVOKE_PAYLOAD + 1)  # never more than can be sent
        except OSError as exc:
            raise UsageError(f"cannot read image {image}: {exc.strerror or exc}") from None
        if not data:
            raise UsageError(f"image {image} is empty")
        event["image_b64"] = base64.b64encode(data).decode()
    if top_k is not None:
        event["top_k"] = top_k
    if len(json.dumps(event)) > MAX_INVOKE_PAYLOAD:
        raise UsageError(
            f"image {image} is too large for a Lambda invocation "
            f"(the event must stay under {MAX_INVOKE_PAYLOAD} bytes once base64-encoded)"
        )
    return event


class EventPayload(bytes):
    """An invocation event's JSON, shown in a printed plan in full when short, else as a summary."""

    def __str__(self) -> str:
        text = self.decode("utf-8", "replace")
        return text if len(text) <= 300 else f"<event JSON: {len(self)} bytes, starts {text[:120]}...>"


def plan_invoke(function_name: str, alias: str, event: dict[str, Any]) -> Plan:
    """One Invoke of the alias with `event`; its answer is the step `answer`'s (None: no such function)."""
    plan = Plan(f"invoke Lambda function {function_name} (alias {alias})")
    plan.add(
        "lambda",
        "Invoke",
        {"FunctionName": function_name, "Qualifier": alias, "Payload": EventPayload(json.dumps(event).encode())},
        name="answer",
        ok_on=("ResourceNotFoundException",),
        action="invoke",
    )
    return plan


def invocation_result(
    function_name: str, alias: str, answer: dict[str, Any] | None, source: str = ""
) -> dict[str, Any]:
    """The predictions from Invoke's answer; the function's error answers become one-line errors. The shape
    `mlops invoke` gives: `source`, and `predictions` (also as `top_k`): the image's labels, most probable
    first. The function's own answer ({"predictions": [{"top_k": [...]}]}, one per image) is kept whole under
    `answer`, never spread over the result's keys."""
    if answer is None:
        raise UsageError(
            f"Lambda function {function_name} (alias {alias}) not found", hint="deploy it first: mlops lambda deploy"
        )
    payload = answer["Payload"].read()
    version = answer.get("ExecutedVersion")
    if answer.get("FunctionError"):
        try:
            error = json.loads(payload)
            detail = f"{error.get('errorType')}: {error.get('errorMessage')}"
        except (ValueError, AttributeError, RecursionError):
            detail = payload[:300].decode("utf-8", "replace")
        raise OperationError(
            f"the function failed (version {version}): {detail}", hint=f"see its log group /aws/lambda/{function_name}"
        )
    try:
        response = json.loads(payload)
        status = int(response["statusCode"])
        body = json.loads(response["body"])
    except (ValueError, KeyError, TypeError, RecursionError):  # whatever the function answers
        raise OperationError(f"the function's answer is not an HTTP-style response: {payload[:200]!r}") from None
    if status != 200:
        message = body.get("error") if isinstance(body, dict) else body
        raise refused(status, f"the function answered {status}: {message}")
    answered = body if isinstance(body, dict) else {"predictions": body}
    try:
        top_k = list(answered["predictions"][0]["top_k"])
    except (KeyError, IndexError, TypeError):  # a function of another shape: its answer as it is
        top_k = []
    return {
        "function": function_name,
        "alias": alias,
        "version": version,
        "source": source,
        "predictions": top_k,
        "top_k": top_k,
        "answer": answered,
    }
