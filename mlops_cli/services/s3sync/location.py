"""Where an upload goes (`s3://bucket/prefix`) and the sizes users type (`8MiB`): parsed and checked up front."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlops_cli.errors import UsageError

_SIZE = re.compile(r"^\s*(\d{1,19})\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)  # 19 digits: int() stays cheap
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # no leading or trailing '/'; "" is the whole bucket

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    @property
    def list_prefix(self) -> str:
        """The prefix that lists exactly this "folder": `data/` never matches `data2/x`."""
        return f"{self.prefix}/" if self.prefix else ""

    def key_for(self, relative: str) -> str:
        """The object key of a file at `relative` (a '/'-separated path inside the source folder)."""
        from mlops_cli.config.aws_rules import key_problem

        key = self.list_prefix + relative
        problem = key_problem(key)
        if problem:  # the scan skipped bad names; what is left is the key's length
            raise UsageError(f"{relative!r} cannot be uploaded under {self.uri}/: {problem}")
        return key


def parse_s3_uri(uri: str, flag: str = "--to") -> S3Location:
    """`s3://bucket[/prefix]` -> S3Location; exit 2 with what was wrong (naming `flag`) otherwise."""
    from mlops_cli.common.s3_uris import split_s3_uri
    from mlops_cli.config import aws_rules

    try:
        bucket, prefix = split_s3_uri(uri)
    except ValueError:
        raise UsageError(f"{flag} must be an s3://bucket/prefix URI, not '{uri}'") from None
    try:
        aws_rules.check_bucket_name(bucket)
        aws_rules.check_prefix(prefix)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    return S3Location(bucket, prefix.strip("/"))


def parse_size(text: str, option: str) -> int:
    """`8MiB`, `16M`, `5mb`, `1048576` -> bytes (K/M/G are powers of 1024, as in the AWS CLI)."""
    found = _SIZE.match(text)
    if not found:
        raise UsageError(f"{option}: '{text}' is not a size like 8MiB, 16M or 1048576")
    return int(found.group(1)) * _UNITS[found.group(2).lower()]
