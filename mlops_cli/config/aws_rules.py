"""AWS's own rules for values in the config and on flags, checked offline before any request.

Instance types and regions come from the data botocore ships (service-model enums, endpoint partitions), loaded
on first use only; S3's naming rules are written out from its documentation, as no service model states them.
Each check raises ValueError with a message a person can act on (pydantic and the commands add where).
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import unicodedata
from functools import lru_cache
from typing import Any

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (general purpose buckets)
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
MAX_KEY_BYTES = 1024  # S3's limit for a whole key; a prefix must leave room for the names under it
MAX_PREFIX_BYTES = 512

# Where each instance-type setting goes: (service, shape) in botocore's service models, and what it is for.
TRAINING_INSTANCE = ("sagemaker", "TrainingInstanceType", "SageMaker training")
HOSTING_INSTANCE = ("sagemaker", "ProductionVariantInstanceType", "SageMaker hosting")
TRANSFORM_INSTANCE = ("sagemaker", "TransformInstanceType", "SageMaker batch transform")
EC2_INSTANCE = ("ec2", "InstanceType", "EC2")
CACHE_VERSION = "v2"  # changes when the cached values do (v2: transform instance types)


@lru_cache(maxsize=1)
def botocore_loader() -> Any:
    """One loader of botocore's data files for the process: each model is parsed once, whoever asks (these
    checks, the offline clients of a dry run or `config permissions`); EC2's alone is ~4 MB of JSON."""
    import botocore.loaders

    return botocore.loaders.create_loader()


@lru_cache(maxsize=1)
def _aws_values() -> dict[str, list[str]]:
    """The instance-type enums and region names of the installed botocore, cached on disk per botocore version:
    parsing the EC2 and SageMaker models costs ~0.2 s, too much for every `mlops config validate`."""
    import json
    from importlib.metadata import version

    from mlops_cli.config.project import mlops_home
    from mlops_cli.files import write_atomically
    from mlops_cli.local.core.paths import private_folder

    cache = mlops_home() / "cache" / f"aws-values-{CACHE_VERSION}-botocore-{version('botocore')}.json"
    try:
        return json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    loader = botocore_loader()
    values: dict[str, list[str]] = {}
    for service, shape, _ in (TRAINING_INSTANCE, HOSTING_INSTANCE, TRANSFORM_INSTANCE, EC2_INSTANCE):
        values[f"{service}.{shape}"] = loader.load_service_model(service, "service-2")["shapes"][shape]["enum"]
    values["regions"] = [
        region for partition in loader.load_data("endpoints")["partitions"] for region in partition["regions"]
    ]
    text = json.dumps(values)
    try:  # written whole, then renamed: concurrent runs never read half a file
        private_folder(cache.parent)  # $MLOPS_HOME too when it is new: owner-only, whatever the umask
        write_atomically(cache, lambda stream: stream.write(text.encode("utf-8")))
    except OSError:
        pass  # a read-only home only costs the parse next time
    return values


def check_instance_type(value: str, kind: tuple[str, str, str]) -> str:
    service, shape, use = kind
    known = frozenset(_aws_values()[f"{service}.{shape}"])
    if value not in known:
        raise ValueError(
            f"'{value}' is not a {use} instance type (botocore's {service} {shape}){_did_you_mean(value, known)}"
        )
    return value


def check_region(value: str) -> str:
    known = frozenset(_aws_values()["regions"])
    if value not in known:
        raise ValueError(f"'{value}' is not an AWS region{_did_you_mean(value, known)}")
    return value


def check_bucket_name(name: str) -> str:
    """All of S3's naming rules for general purpose buckets; the one check for the config and `--to`."""
    problem = _bucket_problem(name)
    if problem:
        raise ValueError(f"'{name}' is not a valid S3 bucket name: {problem}")
    return name


def _bucket_problem(name: str) -> str | None:
    if not 3 <= len(name) <= 63:
        return "it must be 3 to 63 characters long"
    if not re.fullmatch(r"[a-z0-9.-]+", name):
        return "only lowercase letters, digits, dots and hyphens are allowed"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "it must begin and end with a letter or digit"
    if ".." in name:
        return "it must not contain two adjacent dots"
    if ".-" in name or "-." in name:
        return "a dot must not be next to a hyphen (each dot-separated label starts and ends with a letter or digit)"
    try:
        ipaddress.IPv4Address(name)
        return "it must not be formatted as an IP address"
    except ValueError:
        pass
    for prefix in BUCKET_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"the prefix '{prefix}' is reserved by AWS"
    for suffix in BUCKET_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"the suffix '{suffix}' is reserved by AWS"
    return None


def key_problem(key: str, max_bytes: int = MAX_KEY_BYTES) -> str | None:
    """Why `key` cannot be an S3 key (or prefix) we write, or None: no control characters, no `.`/`..`
    segments (they resolve differently in tools that treat keys as paths), no empty segments, length."""
    # Printable text has none of those categories: only other text is looked at character by character (an
    # upload checks every key it writes, and this was most of a no-change re-run's local work).
    if not key.isprintable() and any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in key):
        bad = next(char for char in key if unicodedata.category(char) in ("Cc", "Cf", "Cs"))
        return f"it contains the control character {bad!r}"
    segments = key.split("/")
    if any(segment in (".", "..") for segment in segments):
        return "it contains a '.' or '..' segment"
    if "" in segments[:-1] and key:
        return "it contains an empty segment ('//' or a leading '/')"
    if len(key.encode("utf-8")) > max_bytes:
        return f"it is longer than {max_bytes} bytes"
    return None


def check_prefix(value: str) -> str:
    problem = key_problem(value.strip("/"), MAX_PREFIX_BYTES)
    if problem:
        raise ValueError(f"'{value}' is not a usable S3 prefix: {problem}")
    return value


def _did_you_mean(value: str, known: frozenset[str]) -> str:
    match = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
