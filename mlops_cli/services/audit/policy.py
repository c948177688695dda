"""Policy evaluation helpers: documents, statements, wildcard matching and conditions that can be decided now.

Matching follows IAM: action names compare case-insensitively, `*` and `?` are wildcards, resource ARNs compare
case-sensitively. Compiled patterns and the set of tabled actions each pattern matches are memoised, because
the same few hundred patterns repeat across thousands of policies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from mlops_cli.services.audit.actions import TARGET_KIND, UNIVERSE


class PolicyFormatError(ValueError):
    """A policy document that is not the shape IAM stores."""


def parse_document(value: Any, where: str) -> dict:
    """A policy document from a dump: a JSON object, or the URL-encoded JSON string the raw API returns."""
    if isinstance(value, str):
        from mlops_cli import documents

        text = unquote(value) if value.lstrip().startswith("%") or "%22" in value or "%7B" in value else value
        try:
            value = documents.load_json(text, f"{where}: policy document", documents.POLICY_DOCUMENT)
        except documents.DocumentError as exc:  # malformed, or nested/numbered past its limits
            raise PolicyFormatError(str(exc)) from None
    if not isinstance(value, dict):
        raise PolicyFormatError(f"{where}: policy document must be a JSON object")
    return value


# --- wildcard matching -------------------------------------------------------------------------------------------

_WILDCARDS = re.compile(r"[*?]")


@lru_cache(maxsize=65536)
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


@lru_cache(maxsize=65536)
def _matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate for one pattern; plain prefixes and suffixes skip the regex (compiling is the slow part)."""
    if "?" not in pattern:
        stars = pattern.count("*")
        if stars == 0:
            return pattern.__eq__
        if pattern == "*":
            return lambda value: True
        if stars == 1 and pattern.endswith("*"):
            prefix = pattern[:-1]
            return lambda value: value.startswith(prefix)
        if stars == 1 and pattern.startswith("*"):
            suffix = pattern[1:]
            return lambda value: value.endswith(suffix)
    regex = _compiled(pattern, False)
    return lambda value: regex.fullmatch(value) is not None


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM-style wildcard match of a whole string (`*` any run, `?` one character)."""
    if ignore_case:
        return _matcher(pattern.lower())(value.lower())
    return _matcher(pattern)(value)


def has_wildcard(pattern: str) -> bool:
    return _WILDCARDS.search(pattern) is not None


_UNIVERSE_BY_SERVICE: dict[str, tuple[str, ...]] = {}
for _action in sorted(UNIVERSE):
    _UNIVERSE_BY_SERVICE.setdefault(_action.split(":", 1)[0], ())
    _UNIVERSE_BY_SERVICE[_action.split(":", 1)[0]] += (_action,)


@lru_cache(maxsize=65536)
def tabled_actions(pattern: str) -> frozenset[str]:
    """The actions of the auditor's tables that one (lowercase) action pattern matches."""
    if pattern == "*":
        return UNIVERSE
    service, _, _name = pattern.partition(":")
    if has_wildcard(service):
        candidates: tuple[str, ...] = tuple(UNIVERSE)
    else:
        candidates = _UNIVERSE_BY_SERVICE.get(service, ())
    if not has_wildcard(pattern):
        return frozenset({pattern}) if pattern in candidates else frozenset()
    match = _matcher(pattern)
    return frozenset(action for action in candidates if match(action))


def is_any_resource(resource: str, action: str | None = None) -> bool:
    """Whether a Resource entry covers every resource an action can name (`*`, `arn:aws:s3:::*`, `...:role/*`)."""
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return False
    _arn, _partition, service, region, account, name = parts
    if region not in ("", "*") or account not in ("", "*"):
        return False
    if service == "*":
        return name == "*"
    if action is not None and service != action.split(":", 1)[0] and not has_wildcard(service):
        return False
    kind = TARGET_KIND.get(action or "")
    return name == "*" or (kind is not None and name == f"{kind}/*")


# --- statements ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Statement:
    index: int
    allow: bool
    actions: tuple[str, ...]  # lowercase patterns
    written_actions: tuple[str, ...]  # as written (the access-level heuristic reads CamelCase)
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: dict | None  # what is left after dropping conditions that always hold today
    raw: dict
    every_resource: bool  # Resource covers everything (`*`), or NotResource

    @property
    def conditional(self) -> bool:
        return bool(self.condition)

    def matches_action(self, action: str) -> bool:
        hit = any(glob_match(pattern, action, ignore_case=True) for pattern in self.actions)
        return hit != self.not_action

    def tabled(self) -> frozenset[str]:
        """The tabled actions this statement applies to."""
        return _tabled_for(self.actions, self.not_action)

    def any_resource(self, action: str | None = None) -> bool:
        """Every resource (NotResource counts: it grants all but a list), for one action or for any."""
        if self.every_resource or action is None:
            return self.every_resource
        return any(is_any_resource(resource, action) for resource in self.resources)

    @property
    def is_full_admin(self) -> bool:
        """`Action: *` on every resource."""
        return not self.not_action and any(pattern in ("*", "*:*") for pattern in self.actions) and self.any_resource()


@lru_cache(maxsize=65536)
def _tabled_for(actions: tuple[str, ...], not_action: bool) -> frozenset[str]:
    matched: frozenset[str] = (
        frozenset().union(*(tabled_actions(pattern) for pattern in actions)) if actions else frozenset()
    )
    return UNIVERSE - matched if not_action else matched


def _strings(value: Any, where: str, field: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise PolicyFormatError(f"{where}: {field} must be a string or a list of strings")


def parse_statements(document: dict, where: str, now: datetime | None = None) -> tuple[Statement, ...]:
    """The statements of a policy document; statements whose condition can never hold again are dropped."""
    raw_statements = document.get("Statement", [])
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list):
        raise PolicyFormatError(f"{where}: Statement must be an object or a list of objects")
    statements = []
    for index, raw in enumerate(raw_statements):
        place = f"{where}: Statement[{index}]"
        if not isinstance(raw, dict):
            raise PolicyFormatError(f"{place} must be an object")
        effect = raw.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyFormatError(f"{place}.Effect must be Allow or Deny, not {effect!r}")
        if ("Action" in raw) == ("NotAction" in raw):
            raise PolicyFormatError(f"{place} must have exactly one of Action or NotAction")
        action_key = "NotAction" if "NotAction" in raw else "Action"
        resource_key = "NotResource" if "NotResource" in raw else "Resource"
        condition = raw.get("Condition")
        if condition is not None and not isinstance(condition, dict):
            raise PolicyFormatError(f"{place}.Condition must be an object")
        dead, remaining = simplify_condition(condition, now or datetime.now(UTC))
        if dead:
            continue
        written = _strings(raw.get(action_key, []), place, action_key)
        resources = _strings(raw.get(resource_key, "*"), place, resource_key)
        statements.append(
            Statement(
                index=index,
                allow=effect == "Allow",
                actions=tuple(action.lower() for action in written),
                written_actions=written,
                not_action=action_key == "NotAction",
                resources=resources,
                not_resource=resource_key == "NotResource",
                condition=remaining,
                raw=raw,
                every_resource=resource_key == "NotResource" or any(is_any_resource(r) for r in resources),
            )
        )
    return tuple(statements)


def allows(statements: tuple[Statement, ...], action: str, resource: str) -> bool:
    """Whether the statements let `action` on `resource` through: an Allow matches and no Deny does. Conditions
    count as met (the caller asks what the policy could ever allow)."""

    def applies(statement: Statement) -> bool:
        if not statement.matches_action(action):
            return False
        named = any(glob_match(pattern, resource) for pattern in statement.resources)
        return named != statement.not_resource

    if any(applies(statement) for statement in statements if not statement.allow):
        return False
    return any(applies(statement) for statement in statements if statement.allow)


# --- conditions that can be decided today ------------------------------------------------------------------------

_TIME_KEYS = {"aws:currenttime", "aws:tokenissuetime"}
_DATE_OPERATORS = {
    "DateLessThan": lambda a, b: a < b,
    "DateLessThanEquals": lambda a, b: a <= b,
    "DateGreaterThan": lambda a, b: a > b,
    "DateGreaterThanEquals": lambda a, b: a >= b,
}
# Conditions any caller can satisfy at will: they restrict nothing an attacker cares about.
_NO_RESTRICTION = {("Bool", "aws:securetransport")}


def _as_datetime(value: Any) -> datetime | None:
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
            return datetime.fromtimestamp(int(value), UTC)
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def simplify_condition(condition: dict | None, now: datetime) -> tuple[bool, dict | None]:
    """(never holds again, what remains): time conditions are evaluated against `now`; a date bound already
    passed makes the statement dead (`DateLessThan` a past date), one that holds today is dropped."""
    if not condition:
        return False, None
    remaining: dict[str, dict] = {}
    for operator, block in condition.items():
        if not isinstance(block, dict):
            remaining[operator] = block
            continue
        compare = _DATE_OPERATORS.get(operator)
        kept = {}
        for key, value in block.items():
            if (operator, key.lower()) in _NO_RESTRICTION:
                continue
            if compare is None or key.lower() not in _TIME_KEYS:
                kept[key] = value
                continue
            moments = [_as_datetime(item) for item in (value if isinstance(value, list) else [value])]
            if any(moment is None for moment in moments):
                kept[key] = value
            elif any(compare(now, moment) for moment in moments):
                continue  # holds today
            elif operator.startswith("DateLessThan"):
                return True, None  # the deadline has passed: this statement never applies again
            else:
                kept[key] = value  # a start date still ahead
        if kept:
            remaining[operator] = kept
    return False, remaining or None


# --- policy variables -------------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERAL_VARIABLES = {"*": "*", "?": "?", "$": "$"}


def substitute_variables(resource: str, username: str | None) -> str | None:
    """Resolve `${aws:username}` for a user (None for anyone else: the statement cannot match); any other
    variable becomes `*`, which over-approximates what it could resolve to."""
    if "${" not in resource:
        return resource
    unresolvable = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unresolvable
        name = match.group(1)
        if name in _LITERAL_VARIABLES:
            return _LITERAL_VARIABLES[name]
        if name.lower() == "aws:username":
            if username is None:
                unresolvable = True
                return ""
            return username
        return "*"

    result = _VARIABLE.sub(replace, resource)
    return None if unresolvable else result
