"""The local AWS's own credentials: random per instance, made at `mlops local up`, kept under $MLOPS_HOME (0600).

The server refuses every request not signed with them, so only the user's own tools (which can read the file)
get in. Everything that talks to a local AWS takes its credentials from here: the CLI, the server's own calls to
itself, and the processes it runs (training jobs, model servers, Lambda functions, EC2 bootstraps).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlops_cli.local.core.faults import LOCAL_APP_ID

FILE_NAME = "credentials.json"
# AWS key ids are 20 upper-case letters and digits, secrets 40 characters; local ones look the same,
# with a prefix no real key has, so a leaked one is recognisable.
_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
KEY_PREFIX = "LMLO"


@dataclass(frozen=True)
class LocalCredentials:
    access_key_id: str
    secret_access_key: str

    def boto_kwargs(self) -> dict[str, str]:
        """Keyword arguments for boto3.client / boto3.Session."""
        return {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key}

    def __repr__(self) -> str:  # never print the secret by accident
        return f"LocalCredentials(access_key_id={self.access_key_id!r}, secret_access_key=<hidden>)"


def mlops_home() -> Path:
    """The home when the caller names none: $MLOPS_HOME, else ~/.mlops (the CLI names its project's home)."""
    return Path(os.environ.get("MLOPS_HOME") or Path.home() / ".mlops")


def instance_dir(url: str, home: Path | None = None) -> Path:
    """Where the local AWS on this URL's port keeps its pid file, log, credentials and state."""
    return (home or mlops_home()) / "local" / str(urlsplit(url).port)


def path(url: str, home: Path | None = None) -> Path:
    return instance_dir(url, home) / FILE_NAME


def home_of(inside_instance: Path) -> Path:
    """The home a local AWS belongs to, from a file or folder directly in its `instance_dir` (its credentials
    file, its state folder)."""
    return inside_instance.absolute().parents[2]


def generate() -> LocalCredentials:
    key_id = KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    return LocalCredentials(key_id, secrets.token_urlsafe(30))  # 40 characters, 240 random bits


def write(file: Path, credentials: LocalCredentials) -> None:
    """Write the file readable by its owner only, from the first byte (never briefly world-readable)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    temporary = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(
            {"aws_access_key_id": credentials.access_key_id, "aws_secret_access_key": credentials.secret_access_key},
            handle,
        )
    os.replace(temporary, file)


def read(file: Path) -> LocalCredentials | None:
    try:
        data = json.loads(file.read_text())
        return LocalCredentials(str(data["aws_access_key_id"]), str(data["aws_secret_access_key"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def ensure(url: str, home: Path | None = None) -> LocalCredentials:
    """The instance's credentials, made on its first start; kept across restarts (like its state), so shells
    that ran `eval "$(mlops local env)"` keep working. Delete the file to get new ones at the next start."""
    existing = load(url, home)
    if existing is not None:
        path(url, home).chmod(0o600)  # in case it was copied or loosened since: owner only
        return existing
    credentials = generate()
    write(path(url, home), credentials)
    return credentials


def load(url: str, home: Path | None = None) -> LocalCredentials | None:
    """The credentials of the instance on `url`, or None if it was never started from this home."""
    return read(path(url, home))


def process_env(endpoint_url: str, region: str, credentials: LocalCredentials) -> dict[str, str]:
    """The AWS part of a local process's environment: this local AWS, its credentials, nothing of the caller's.

    Config and credential files point at /dev/null so no profile of the user's is ever read, and the instance
    metadata service is never asked for credentials.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_SDK_UA_APP_ID": LOCAL_APP_ID,  # the local AWS's own work, which its fault rules leave alone
    }
