"""Where an upload goes (`s3://bucket/prefix`) and the sizes users type (`8MiB`): parsed and checked up front."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from mlops_cli.errors import UsageError

MAX_KEY_BYTES = 1024
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}


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
        parts = relative.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise UsageError(f"'{relative}' would not map to a key inside {self.uri}/")
        key = self.list_prefix + relative
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            raise UsageError(f"'{relative}': the file name is not valid UTF-8, so it cannot be an S3 key") from None
        if size > MAX_KEY_BYTES:
            raise UsageError(f"'{relative}': its key would be {size} bytes, S3 allows {MAX_KEY_BYTES}")
        return key


def check_bucket_name(name: str) -> str:
    """S3's naming rules for general purpose buckets; the message says which one failed."""
    problem = None
    if not _BUCKET.match(name):
        problem = ("3-63 characters of lowercase letters, digits, '.' and '-', starting and ending with a letter "
                   "or digit")
    elif ".." in name or ".-" in name or "-." in name:
        problem = "no '..', '.-' or '-.'"
    elif name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3", "--x-s3")):
        problem = "no reserved prefix (xn--, sthree-) or suffix (-s3alias, --ol-s3, --x-s3)"
    else:
        try:
            ipaddress.IPv4Address(name)
            problem = "not an IP address"
        except ValueError:
            pass
    if problem:
        raise UsageError(f"invalid bucket name '{name}': expected {problem}")
    return name


def parse_s3_uri(uri: str) -> S3Location:
    """`s3://bucket[/prefix]` -> S3Location; exit 2 with what was wrong otherwise."""
    if not uri.startswith("s3://"):
        raise UsageError(f"--to must be an s3://bucket/prefix URI, not '{uri}'")
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    check_bucket_name(bucket)
    prefix = prefix.strip("/")
    if prefix and any(part in ("", ".", "..") for part in prefix.split("/")):
        raise UsageError(f"invalid prefix in '{uri}': no empty, '.' or '..' path segments")
    return S3Location(bucket, prefix)


def parse_size(text: str, option: str) -> int:
    """`8MiB`, `16M`, `5mb`, `1048576` -> bytes (K/M/G are powers of 1024, as in the AWS CLI)."""
    found = _SIZE.match(text)
    if not found:
        raise UsageError(f"{option}: '{text}' is not a size like 8MiB, 16M or 1048576")
    return int(found.group(1)) * _UNITS[found.group(2).lower()]
