"""Identity-based policy evaluation as IAM does it (IAM User Guide, "Policy evaluation logic" and "IAM JSON
policy elements: Condition operators"): an explicit Deny in any statement wins, else an Allow is needed; a
statement applies when its Action (or NotAction), Resource (or NotResource) and every Condition match.

Actions match case-insensitively, resources case-sensitively, both with `*` and `?` wildcards. Conditions: the
String, Arn, Numeric, Bool and Null operators, `...IfExists`, and the ForAnyValue/ForAllValues set qualifiers;
keys are case-insensitive. A key the request does not have fails a condition, except for IfExists, for the
negated operators (StringNotEquals, ...) and for ForAllValues, which AWS evaluates as true then.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["allow", "deny", "none"]


@dataclass(frozen=True)
class Check:
    """One authorization AWS makes for a request: an action on one resource, with the request's context keys
    (lower-case names; values as lists of strings)."""

    action: str
    resource: str
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


@functools.lru_cache(maxsize=4096)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def matches(glob: str, value: str, ignore_case: bool = False) -> bool:
    return _pattern(glob, ignore_case).match(value) is not None


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _bool(text: str) -> str:
    return text.lower()


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


_NUMERIC = {
    "NumericEquals": lambda a, b: a == b,
    "NumericNotEquals": lambda a, b: a != b,
    "NumericLessThan": lambda a, b: a < b,
    "NumericLessThanEquals": lambda a, b: a <= b,
    "NumericGreaterThan": lambda a, b: a > b,
    "NumericGreaterThanEquals": lambda a, b: a >= b,
}


def _one(operator: str, actual: str, wanted: str) -> bool:
    """Does one request value satisfy one policy value under a positive operator?"""
    if operator in ("StringEquals", "ArnEquals"):
        return actual == wanted if operator == "StringEquals" else matches(wanted, actual)
    if operator == "StringEqualsIgnoreCase":
        return actual.lower() == wanted.lower()
    if operator in ("StringLike", "ArnLike"):
        return matches(wanted, actual)
    if operator == "Bool":
        return _bool(actual) == _bool(wanted)
    if operator in _NUMERIC:
        a, b = _number(actual), _number(wanted)
        return a is not None and b is not None and _NUMERIC[operator](a, b)
    raise ValueError(operator)


_POSITIVE = frozenset(
    {"StringEquals", "ArnEquals", "StringEqualsIgnoreCase", "StringLike", "ArnLike", "Bool", *_NUMERIC}
)
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition(operator: str, key: str, wanted: list[str], context: Mapping[str, Sequence[str]]) -> bool:
    qualifier, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    actual = context.get(key.lower())
    if operator == "Null":
        if len(wanted) != 1:  # a policy AWS would refuse as malformed: it grants and denies nothing
            raise ValueError(operator)
        return (actual is None or not actual) == (_bool(wanted[0]) == "true")
    negated = operator in _NEGATED
    positive = _NEGATED.get(operator, operator)
    if positive not in _POSITIVE:  # before the key is looked at: a Deny on a key not modelled must still apply
        raise ValueError(operator)
    if not actual:
        return if_exists or negated or qualifier == "ForAllValues"
    if qualifier == "ForAllValues":
        hit = all(any(_one(positive, a, w) for w in wanted) for a in actual)
    else:  # ForAnyValue, or a single-valued key
        hit = any(_one(positive, a, w) for a in actual for w in wanted)
    return not hit if negated else hit


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, Sequence[str]], deny: bool) -> bool:
    try:
        return all(
            _condition(operator, key, _listed(wanted), context)
            for operator, keys in conditions.items()
            for key, wanted in keys.items()
        )
    except (ValueError, AttributeError):
        # An operator this evaluator does not know (Date*, IpAddress, ...) or a malformed block: failing closed,
        # it never grants anything, and a Deny that carries it applies (else `Deny ... DateGreaterThan` is ignored).
        return deny


def _applies(statement: Mapping[str, Any], check: Check) -> bool:
    if "Action" in statement:
        if not any(matches(p, check.action, ignore_case=True) for p in _listed(statement["Action"])):
            return False
    elif "NotAction" not in statement or any(
        matches(p, check.action, ignore_case=True) for p in _listed(statement["NotAction"])
    ):
        return False
    if "Resource" in statement:
        if not any(matches(p, check.resource) for p in _listed(statement["Resource"])):
            return False
    elif "NotResource" in statement and any(matches(p, check.resource) for p in _listed(statement["NotResource"])):
        return False
    return _conditions_hold(statement.get("Condition") or {}, check.context, statement.get("Effect") == "Deny")


def _statements(documents: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    for document in documents:
        found = document.get("Statement", [])
        yield from found if isinstance(found, list) else [found]


def decide(documents: Iterable[Mapping[str, Any]], check: Check) -> Decision:
    """deny (an explicit Deny applies), allow (an Allow applies and no Deny), or none (nothing allows it)."""
    allowed = False
    for statement in _statements(documents):
        if _applies(statement, check):
            if statement.get("Effect") == "Deny":
                return "deny"
            allowed = allowed or statement.get("Effect") == "Allow"
    return "allow" if allowed else "none"


def _names(principal: Any, principals: Sequence[str]) -> bool:
    """Does a statement's Principal name one of `principals` ("*" names everyone)?"""
    if principal == "*":
        return True
    named = _listed(principal.get("AWS")) if isinstance(principal, dict) else []
    return any(name == "*" or name in principals for name in named)


def decide_trust(document: Mapping[str, Any], principals: Sequence[str], check: Check) -> Decision:
    """A resource-based policy such as a role's trust policy: only the statements whose Principal names one of
    `principals` (the caller's ARN, its role's ARN, its account) count."""
    named = [statement for statement in _statements([document]) if _names(statement.get("Principal"), principals)]
    return decide([{"Statement": named}], check)
