"""The AWS client layer: the one place that makes boto3 sessions and clients, and translates botocore errors.

Clients come from config (profile, region, endpoint URL) with botocore's standard retries: throttling and 5xx
answers are retried with jittered exponential back-off (botocore.retries.standard), access denied never is; a
user's own AWS_MAX_ATTEMPTS / AWS_RETRY_MODE (or the profile's max_attempts / retry_mode) win.
Against the embedded local AWS (a loopback endpoint_url) the instance's own credentials are used
(mlops_cli.local.core.credentials), so real credentials never leave for it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from mlops_cli.errors import MlopsError, OperationError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from mlops_cli.config.schema import AwsConfig

T = TypeVar("T")

# Sent to a loopback endpoint this MLOPS_HOME never started: refused by a local AWS, never a real key.
NOT_STARTED_CREDENTIALS = {"aws_access_key_id": "mlops-local-not-started", "aws_secret_access_key": "none"}
# Attempts per request, the first included: on AWS, back-off up to 20 s apiece rides out a throttled burst; locally
# a stopped local AWS should fail in a second (connection errors back off 50 ms at first), not after minutes.
MAX_ATTEMPTS = 8
LOCAL_MAX_ATTEMPTS = 4
DEFAULT_POOL_CONNECTIONS = 32
THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
}
ACCESS_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}
# How AWS (and the local AWS) answer a request signed with an access key id they do not know.
UNKNOWN_KEY_CODES = {"UnrecognizedClientException", "InvalidClientTokenId", "InvalidAccessKeyId", "AuthFailure"}
# The local AWS says whose it is when another key signs (mlops_cli.local.core.guard): another home's instance.
OTHER_HOME = re.compile(r"it belongs to MLOPS_HOME=('[^']*'|\S+)")
NOT_FOUND_CODES = {
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchEntity",
    "ResourceNotFound",
    "ResourceNotFoundException",
    "NotFound",
    "404",
    "NoSuchUpload",
    "ValidationException",
}


# Why a dry run plans offline: AWS cannot be reached, or no credentials exist.
UNREACHABLE_OR_NO_CREDENTIALS = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "CredentialRetrievalError",
    "EndpointConnectionError",
    "ConnectTimeoutError",
    "ConnectionClosedError",
    "ReadTimeoutError",
}


# Answers that mean the caller's credentials are refused everywhere, not that one resource is out of reach.
CREDENTIALS_REFUSED = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AuthFailure",
}


def cannot_read_aws(exc: BaseException) -> bool:
    """AWS cannot be read at all: no credentials, refused credentials, or the endpoint does not answer."""
    return type(exc).__name__ in UNREACHABLE_OR_NO_CREDENTIALS or error_code(exc) in CREDENTIALS_REFUSED


@dataclass(frozen=True)
class AwsTarget:
    """The config's `aws` section as plain values: what a command that reads its config from the validation cache
    (mlops_cli.config.cache) makes clients from, without building the pydantic config."""

    region: str
    profile: str | None = None
    endpoint_url: str | None = None


class AwsClients:
    """Lazily-created boto3 clients sharing one session; pass `.client` to services."""

    def __init__(self, aws: AwsConfig | AwsTarget, dry_run: bool = False, home: Path | None = None):
        from mlops_cli.config.project import mlops_home

        self.aws = aws
        self.dry_run = dry_run
        self.home = home or mlops_home()  # whose local AWS credentials to use, and where upload records live
        self._clients: dict[str, Any] = {}
        self._record: Callable[[str, str], None] | None = None

    @classmethod
    def planning_only(cls, aws: AwsConfig, record: Callable[[str, str], None]) -> AwsClients:
        """Dry-run clients for an account where nothing exists yet, whatever AWS is reachable, that tell
        `record(service, operation)` every request asked of them (`config permissions` derives from them)."""
        clients = cls(aws, dry_run=True)
        clients._record = record
        clients.__dict__["offline"] = True  # the cached answer: never probed
        return clients

    @cached_property
    def offline(self) -> bool:
        """A dry run where AWS cannot be reached or no credentials exist: plans are then made for an account
        where nothing exists yet (mlops_cli.aws_offline). Asked once, with one quick identity call."""
        if not self.dry_run:
            return False
        from botocore.config import Config as BotoConfig

        probe = BotoConfig(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=3, read_timeout=10)
        try:
            self.session.client("sts", endpoint_url=self.aws.endpoint_url, config=probe).get_caller_identity()
        except Exception as exc:
            if type(exc).__name__ in UNREACHABLE_OR_NO_CREDENTIALS:
                return True
            raise translate_error(exc) from None
        return False

    @property
    def local_endpoint(self) -> str | None:
        """The endpoint URL when it is the local AWS on this machine, else None."""
        from mlops_cli.config.urls import is_loopback_url

        url = self.aws.endpoint_url
        return url if url and is_loopback_url(url) else None

    @property
    def is_local(self) -> bool:
        return self.local_endpoint is not None

    @cached_property
    def session(self) -> Any:
        import boto3

        if local_endpoint := self.local_endpoint:
            from mlops_cli.local.core import credentials as local_credentials

            if acting := _acting_as(local_endpoint):  # `eval "$(mlops local env --user NAME)"` in this shell
                return boto3.Session(region_name=self.aws.region, **acting)
            found = local_credentials.load(local_endpoint, self.home)
            return boto3.Session(
                region_name=self.aws.region, **(found.boto_kwargs() if found else NOT_STARTED_CREDENTIALS)
            )
        import botocore.session

        try:
            core = botocore.session.Session(profile=self.aws.profile)
            if not self.aws.endpoint_url:  # botocore then takes endpoints from the environment and the profile
                check_configured_endpoints(core)
            return boto3.Session(botocore_session=core, region_name=self.aws.region)
        except MlopsError:
            raise
        except Exception as exc:  # botocore.exceptions.ProfileNotFound and friends
            raise translate_error(exc) from None

    @cached_property
    def _offline_session(self) -> Any:
        """One session for every offline client (each new session would load the endpoint data again), reading
        botocore's models through the process's one loader, which the config's checks may have filled already."""
        import boto3
        import botocore.session

        from mlops_cli.config.aws_rules import botocore_loader

        core = botocore.session.Session()
        core.register_component("data_loader", botocore_loader())
        return boto3.Session(botocore_session=core, region_name=self.aws.region, **NOT_STARTED_CREDENTIALS)

    def client(self, service: str, in_flight: int = 0) -> Any:
        """The service's client, shared by the command. `in_flight`: how many requests the first caller sends at
        once from worker threads (an upload's); the connection pool is made at least that large, so no connection
        is dropped and made again for lack of room."""
        if service not in self._clients and self.offline:
            from mlops_cli import aws_offline

            self._clients[service] = aws_offline.install(
                self._offline_session.client(service, endpoint_url=self.aws.endpoint_url), record=self._record
            )
        if service not in self._clients:
            from botocore.config import Config as BotoConfig

            from mlops_cli import __version__

            config = BotoConfig(
                retries=self._retries(),
                connect_timeout=10,
                read_timeout=70,
                user_agent_extra=f"mlops/{__version__}",
                max_pool_connections=max(DEFAULT_POOL_CONNECTIONS, in_flight),
            )
            self._clients[service] = self.session.client(service, endpoint_url=self.aws.endpoint_url, config=config)
        return self._clients[service]

    def _retries(self) -> dict[str, Any]:
        """Standard retries with this tool's attempt count, unless the user chose their own (AWS_RETRY_MODE and
        AWS_MAX_ATTEMPTS, or retry_mode and max_attempts in their AWS config profile): a client Config would
        override those, so a key the user set is left out of it and botocore applies theirs, as the AWS CLI does."""
        chosen = {
            name: self.session._session.get_config_variable(name, methods=("env", "config"))
            for name in ("retry_mode", "max_attempts")
        }
        retries: dict[str, Any] = {}
        if chosen["retry_mode"] is None:
            retries["mode"] = "standard"
        if chosen["max_attempts"] is None:
            retries["total_max_attempts"] = LOCAL_MAX_ATTEMPTS if self.is_local else MAX_ATTEMPTS
        return retries

    def load_client(self, service: str, pool_size: int, timeout_s: float = 70) -> Any:
        """A client for load generation: one attempt per request (throttling is counted, not retried away), a
        connection pool as large as the requests in flight (boto3 clients are thread-safe), and the load test's
        own timeout for each answer."""
        from botocore.config import Config as BotoConfig

        from mlops_cli import __version__

        config = BotoConfig(
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=min(10, timeout_s),
            read_timeout=timeout_s,
            user_agent_extra=f"mlops/{__version__}",
            max_pool_connections=pool_size,
        )
        return self.session.client(service, endpoint_url=self.aws.endpoint_url, config=config)

    @cached_property
    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    @property
    def partition(self) -> str:
        return (
            "aws-cn" if self.aws.region.startswith("cn-") else ("aws-us-gov" if "-gov-" in self.aws.region else "aws")
        )


def check_configured_endpoints(botocore_session: Any) -> None:
    """The config's https rule for endpoints named outside the config, before any request is sent."""
    from mlops_cli.config.urls import check_endpoint_url, configured_endpoint_urls

    for where, url in configured_endpoint_urls(botocore_session, os.environ):
        try:
            check_endpoint_url(url)
        except ValueError as exc:
            raise UsageError(f"{where}: {url}: {exc}") from None


def _client_error_message(exc: Any) -> MlopsError:
    code = error_code(exc) or "Unknown"
    message = error_message(exc).strip()
    operation = getattr(exc, "operation_name", "the request")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    attempts = 1 + int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts") or 0)
    other_home = OTHER_HOME.search(message) if code in UNKNOWN_KEY_CODES else None
    owner = _home_path(other_home.group(1)) if other_home else None
    if owner:
        return OperationError(
            f"the local AWS refused {operation}: it belongs to another home, MLOPS_HOME={owner}, and this command "
            "signed with another home's credentials",
            hint=f"run the command in that project's folder or with MLOPS_HOME={owner}; "
            f'for other AWS tools: eval "$(MLOPS_HOME={owner} mlops local env)"',
        )
    if code in ACCESS_DENIED_CODES:
        # AWS's wording names the IAM action (EC2 first says "not authorized to perform this operation").
        found = re.search(r"not authorized to perform:? ([\w-]+:[\w*-]+)(?: on resource:? (\S+))?", message)
        if found:
            action, resource = found.group(1), found.group(2)
            detail = f"{action}" + (f" on {resource.rstrip('.,')}" if resource else "")
        else:
            detail = f"{operation}" + (f" ({message})" if message else "")
        return OperationError(
            f"access denied: not allowed to {detail}",
            hint="grant that permission to your identity, or choose another with --profile",
        )
    if exc.response.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded":
        # Waiting cannot help a reservation of 0 (AWS's switch that throttles every invocation, by design).
        return OperationError(
            f"Lambda throttled {operation}: the function's reserved concurrency is used up; a reserved concurrency"
            " of 0 throttles every invocation by design",
            hint="see it with `mlops concurrency set --show`; lift it with `mlops concurrency set --unreserved`"
            " (or --reserved N)",
        )
    if code in THROTTLING_CODES:
        return OperationError(
            f"AWS throttled {operation} ({code}) and it still failed after {attempts} attempt"
            f"{'s' if attempts > 1 else ''}; try again later",
        )
    if (
        code in NOT_FOUND_CODES
        and (code != "ValidationException" or re.search(r"(could not find|does not exist|not found)", message, re.I))
        or status == 404
    ):
        return OperationError(f"not found: {message or code} ({operation})")
    failed = f"{operation} failed: {code}: {message}" if message else f"{operation} failed: {code}"
    if isinstance(status, int) and status >= 500 and attempts > 1:  # botocore retried every one of them
        failed += f" (AWS answered {status} to all {attempts} attempts)"
    return OperationError(failed)


def translate_error(exc: BaseException) -> MlopsError:
    """Turn a botocore/boto3 exception into a one-line MlopsError."""
    name = type(exc).__name__
    if hasattr(exc, "response") and isinstance(exc.response, dict):
        return _client_error_message(exc)
    if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
        return UsageError(
            "no AWS credentials found",
            hint="run `aws configure`, set AWS_PROFILE or pass --profile, or use the embedded local AWS "
            "(`mlops init --local`, `mlops local up`)",
        )
    if name == "ProfileNotFound":
        return UsageError(f"{exc}", hint="check --profile / AWS_PROFILE against ~/.aws/config")
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "")
        return OperationError(
            f"cannot reach {url or 'the AWS endpoint'}",
            hint="is the local AWS running? start it with `mlops local up`"
            if "127.0.0.1" in url or "localhost" in url
            else "check your network and --region",
        )
    if name == "ReadTimeoutError":
        return OperationError(f"AWS did not answer in time: {exc}")
    if name in ("NoRegionError",):
        return UsageError("no AWS region set", hint="pass --region or set aws.region in the config")
    if name == "ParamValidationError":
        return UsageError(f"invalid request: {exc}".replace("\n", " "))
    return OperationError(f"{name}: {exc}")


def is_aws_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("botocore", "boto3", "s3transfer")


# ---------------------------------------------------------------------------------------------- error codes
# The one place that reads AWS error codes off exceptions: plans name codes (absent-on, retry-while), this
# module matches them.


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def is_unknown_credentials(exc: BaseException) -> bool:
    """AWS (or a local AWS of another home) does not know the access key the request was signed with."""
    return error_code(exc) in UNKNOWN_KEY_CODES


def error_message(exc: BaseException) -> str:
    """The AWS error message of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Message") or "") if isinstance(response, dict) else ""


@dataclass(frozen=True)
class ErrorMatch:
    """An AWS error by code, and optionally by a phrase of its message (case-insensitive)."""

    code: str
    phrase: str = ""

    def __call__(self, exc: BaseException) -> bool:
        return error_code(exc) == self.code and self.phrase.lower() in str(exc).lower()

    def __str__(self) -> str:
        return self.code + (f" ({self.phrase})" if self.phrase else "")


def absent_on(gone: tuple[str, ...] | Callable[[BaseException], bool], call: Callable[[], T]) -> T | None:
    """`call()`, or None when AWS answers that the thing does not exist: with one of the codes `gone`, or an
    error the predicate `gone` recognises."""
    try:
        return call()
    except Exception as exc:
        if gone(exc) if callable(gone) else error_code(exc) in gone:
            return None
        raise


FIRST_RETRY_DELAY_S = 1.0
MAX_RETRY_DELAY_S = 10.0


def retry_while(
    call: Callable[[], T],
    matches: Callable[[BaseException], bool],
    *,
    wait_s: float,
    on_wait: Callable[[BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`call()`, retried with exponential backoff (1 s doubling to 10 s) for up to `wait_s` seconds while it fails
    with an error `matches` recognises; `on_wait` hears the first such error. Other errors, and the last one once
    the time is up, are raised."""
    deadline = clock() + wait_s
    delay = FIRST_RETRY_DELAY_S
    told = False
    while True:
        try:
            return call()
        except Exception as exc:
            if not matches(exc) or clock() + delay > deadline:
                raise
            if on_wait is not None and not told:
                on_wait(exc)
                told = True
            sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_S)


def _acting_as(local_endpoint: str) -> dict[str, str] | None:
    """The keys in the environment when the shell points them at this very local AWS (what `mlops local env
    --user/--role` exports: AWS_ENDPOINT_URL with the keys of a local IAM identity); otherwise None and the
    instance's own keys are used, so keys meant for AWS never sign a request to the local AWS."""
    import os

    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (key and secret) or os.environ.get("AWS_ENDPOINT_URL", "").rstrip("/") != local_endpoint.rstrip("/"):
        return None
    token = os.environ.get("AWS_SESSION_TOKEN")
    return {
        "aws_access_key_id": key,
        "aws_secret_access_key": secret,
        **({"aws_session_token": token} if token else {}),
    }


def _home_path(text: str) -> str | None:
    """The other home a local AWS names, quoted for a shell; None when it is not a plain absolute path (the
    answer comes from whatever listens on the port: it is pasted into an `eval` hint only when harmless)."""
    import shlex

    try:
        parts = shlex.split(text)
    except ValueError:
        return None
    if len(parts) != 1 or not parts[0].startswith("/") or not parts[0].isprintable() or "\n" in parts[0]:
        return None
    return shlex.quote(parts[0])
