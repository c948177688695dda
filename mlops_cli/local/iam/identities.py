"""Acting as a local IAM identity: `mlops local env --user NAME` / `--role ARN` print the same shell lines as
`mlops local env`, with the keys of that user (an access key made for it the first time, kept owner-only beside
the instance's own credentials, since IAM shows a secret only once) or of a new session of that role (assumed by
the root, as an administrator would). After `eval`, mlops and the AWS CLI act as that identity, and the local
AWS evaluates its policies."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from mlops_cli.errors import OperationError, UsageError
from mlops_cli.local.core import credentials as local_credentials
from mlops_cli.local.core.credentials import LocalCredentials

_USER_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")  # IAM's UserName pattern and length
_ROLE_ARN = re.compile(r"^arn:aws[\w-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


def _client(root: dict[str, str], service: str) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=root["AWS_ENDPOINT_URL"],
        region_name=root["AWS_DEFAULT_REGION"],
        aws_access_key_id=root["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=root["AWS_SECRET_ACCESS_KEY"],
    )


def _keys_file(url: str, user: str) -> Path:
    return local_credentials.instance_dir(url) / "users" / f"{user}.json"


def user_env(root: dict[str, str], user: str) -> dict[str, str]:
    """`root` (the instance's shell lines) with an access key of the local IAM user `user`; the user and a key are
    made when missing."""
    from botocore.exceptions import ClientError

    if not _USER_NAME.match(user):
        raise UsageError(f"--user {user!r}: an IAM user name is 1-64 letters, digits and +=,.@_-")
    url = root["AWS_ENDPOINT_URL"]
    iam = _client(root, "iam")
    try:
        try:
            existing = {key["AccessKeyId"] for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
        except iam.exceptions.NoSuchEntityException:
            iam.create_user(UserName=user)
            existing = set()
        kept = local_credentials.read(_keys_file(url, user))
        if kept is None or kept.access_key_id not in existing:
            made = iam.create_access_key(UserName=user)["AccessKey"]
            kept = LocalCredentials(made["AccessKeyId"], made["SecretAccessKey"])
            local_credentials.write(_keys_file(url, user), kept)
    except ClientError as exc:
        raise OperationError(f"cannot give user {user} a key: {exc.response['Error'].get('Message')}") from None
    return {**root, "AWS_ACCESS_KEY_ID": kept.access_key_id, "AWS_SECRET_ACCESS_KEY": kept.secret_access_key}


def role_env(root: dict[str, str], role_arn: str) -> dict[str, str]:
    """`root` with the keys of a new session of the role (AWS_SESSION_TOKEN too)."""
    from botocore.exceptions import ClientError

    if not _ROLE_ARN.match(role_arn):
        raise UsageError(f"--role {role_arn!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    try:
        session = _client(root, "sts").assume_role(RoleArn=role_arn, RoleSessionName=f"mlops-{os.getpid()}")
    except ClientError as exc:
        raise OperationError(f"cannot assume {role_arn}: {exc.response['Error'].get('Message')}") from None
    found = session["Credentials"]
    return {
        **root,
        "AWS_ACCESS_KEY_ID": found["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
        "AWS_SESSION_TOKEN": found["SessionToken"],
    }
