"""Bounded parsing of the documents users hand us (YAML configs and ignore files, env values, JSON inputs).

A few hundred bytes of YAML can expand to billions of values through nested aliases, and deep nesting or a
5,000-digit integer crash Python's own parsers. Every reader here counts what it builds and stops at a limit,
with one line naming the document, the line, the key and the limit that was hit (a UsageError: exit 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import UsageError

if TYPE_CHECKING:
    import yaml


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_values: int  # scalars and collections, counting each alias as the values it stands for
    max_depth: int = 32
    max_aliases: int = 100
    max_number_chars: int = 32  # digits of an integer: far beyond any setting, far below Python's 4,300


CONFIG = Limits(max_bytes=128 * 1024, max_values=20_000)
ENV_VALUE = Limits(max_bytes=4096, max_values=1_000, max_depth=8)
IGNORE_FILE = Limits(max_bytes=1024 * 1024, max_values=100_000, max_depth=16)
# `aws iam get-account-authorization-details` of a large account is tens of MB; policies nest a few levels.
AUDIT_INPUT = Limits(max_bytes=256 * 1024 * 1024, max_values=0, max_depth=64)
# A policy inside an audit input, often as URL-encoded JSON text (IAM's own limits are a few KB).
POLICY_DOCUMENT = Limits(max_bytes=1024 * 1024, max_values=0, max_depth=32)


class DocumentError(UsageError):
    """A document over one of its limits, or malformed: one line with where and what."""


class SyntaxProblem(DocumentError):
    """Not YAML/JSON at all (as opposed to over a limit)."""


def _where(origin: str, mark: Any) -> str:
    return f"{origin}:{mark.line + 1}" if mark is not None else origin


def _dotted(path: list[str]) -> str:
    return ".".join(part for part in path if part).replace(".[", "[") or "(top level)"


def load_yaml(text: str, origin: str, limits: Limits) -> tuple[Any, yaml.Node | None]:
    """Parse one YAML document within `limits`; returns the data and its root node (for key lines).

    `origin` names the document in messages ("configs/x.yaml", "env MLOPS_…"). YAML syntax errors are
    UsageErrors naming the line too.
    """
    import yaml

    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        raise DocumentError(f"{origin}: larger than the {limits.max_bytes}-byte limit")
    loader = None
    try:
        loader = _bounded_loader_class()(text, origin, limits)  # PyYAML refuses control characters here
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except DocumentError:
        raise
    except yaml.YAMLError as exc:
        where = _where(origin, getattr(exc, "problem_mark", None))
        if isinstance(exc, yaml.reader.ReaderError):
            where = f"{origin}:{text.count(chr(10), 0, exc.position) + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SyntaxProblem(f"{where}: invalid YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, node


def load_json(text: str, origin: str, limits: Limits) -> Any:
    """Parse JSON within `limits`: size, nesting depth, integer length; NaN and Infinity refused."""
    if len(text) > limits.max_bytes:
        raise DocumentError(f"{origin}: larger than the {limits.max_bytes}-byte limit")

    def line_of(fragment: str) -> str:
        at = text.find(fragment)
        return f"{origin}:{text.count(chr(10), 0, at) + 1}" if at >= 0 else origin

    def bounded_int(digits: str) -> int:
        if len(digits) > limits.max_number_chars:
            raise DocumentError(
                f"{line_of(digits)}: a number of {len(digits)} digits (the limit is {limits.max_number_chars})"
            )
        return int(digits)

    def no_constant(name: str) -> Any:
        raise DocumentError(f"{line_of(name)}: {name} is not a JSON number")

    try:
        data = json.loads(text, parse_int=bounded_int, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise SyntaxProblem(f"{origin}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise DocumentError(f"{origin}: nested deeper than the {limits.max_depth}-level limit") from None
    _check_depth(data, origin, limits.max_depth)
    return data


def _check_depth(data: Any, origin: str, max_depth: int) -> None:
    """Walk without recursion; name the first path that nests too deep."""
    stack: list[tuple[Any, list[str]]] = [(data, [])]
    while stack:
        value, path = stack.pop()
        if len(path) > max_depth:
            raise DocumentError(
                f"{origin}: {_dotted(path[:max_depth])}: nested deeper than the {max_depth}-level limit"
            )
        if isinstance(value, dict):
            stack.extend((item, path + [str(key)]) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, path + [f"[{index}]"]) for index, item in enumerate(value))


_LOADER: type | None = None


def _bounded_loader_class() -> type:
    """PyYAML's SafeLoader with a composer that counts depth, values and alias expansion as it goes."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    # libyaml's parser (when PyYAML has it) emits the events several times faster; composing stays in Python.
    try:
        from yaml.cyaml import CParser

        parsing: tuple[type, ...] = (CParser,)
    except ImportError:
        parsing = (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser)

    class BoundedLoader(
        yaml.composer.Composer,
        *parsing,  # type: ignore[misc]  # the parser bases are chosen at run time (libyaml's when present)
        yaml.constructor.SafeConstructor,
        yaml.resolver.Resolver,
    ):
        def __init__(self, text: str, origin: str, limits: Limits):
            if len(parsing) == 1:
                CParser.__init__(self, text)
            else:
                yaml.reader.Reader.__init__(self, text)
                yaml.scanner.Scanner.__init__(self)
                yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self.origin, self.limits = origin, limits
            self.path: list[str] = []
            self.values = self.aliases = 0
            self.open: set[str] = set()  # anchors of collections still being composed (an alias to one recurses)
            self.expanded: dict[int, tuple[int, int]] = {}  # id(node) -> (values, depth) with aliases expanded

        def fail(self, mark: Any, problem: str) -> DocumentError:
            return DocumentError(f"{_where(self.origin, mark)}: {_dotted(self.path)}: {problem}")

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.path.append(_path_part(parent, index))
            try:
                if self.check_event(yaml.AliasEvent):
                    return self._compose_alias()
                if len(self.path) > self.limits.max_depth:
                    raise self.fail(
                        self.peek_event().start_mark, f"nested deeper than the {self.limits.max_depth}-level limit"
                    )
                node = super().compose_node(parent, index)
                self._count(1, node.start_mark)
                if isinstance(node, yaml.ScalarNode):
                    self._check_number(node)
                elif isinstance(node, yaml.MappingNode):
                    self._check_duplicates(node)
                return node
            finally:
                self.path.pop()

        def compose_sequence_node(self, anchor: Any) -> Any:
            return self._tracked(super().compose_sequence_node, anchor)

        def compose_mapping_node(self, anchor: Any) -> Any:
            return self._tracked(super().compose_mapping_node, anchor)

        def _tracked(self, compose: Any, anchor: Any) -> Any:
            # Register the collection as open under its anchor before its children are composed.
            if anchor is not None:
                self.open.add(anchor)
            try:
                return compose(anchor)
            finally:
                self.open.discard(anchor)

        def _compose_alias(self) -> Any:
            event = self.peek_event()
            if event.anchor in self.open:
                raise self.fail(event.start_mark, f"alias *{event.anchor} refers to itself (recursive)")
            node = super().compose_node(None, None)  # PyYAML reports undefined aliases
            self.aliases += 1
            if self.aliases > self.limits.max_aliases:
                raise self.fail(event.start_mark, f"more than {self.limits.max_aliases} aliases (the limit)")
            values, depth = self._expanded(node)
            if len(self.path) - 1 + depth > self.limits.max_depth:
                raise self.fail(
                    event.start_mark, f"alias *{event.anchor} nests deeper than the {self.limits.max_depth}-level limit"
                )
            self._count(values, event.start_mark)
            return node

        def _count(self, values: int, mark: Any) -> None:
            self.values += values
            if self.values > self.limits.max_values:
                raise self.fail(
                    mark, f"more than {self.limits.max_values} values once aliases are expanded (the limit)"
                )

        def _expanded(self, node: Any) -> tuple[int, int]:
            known = self.expanded.get(id(node))
            if known is not None:
                return known
            if isinstance(node, yaml.ScalarNode):
                result = (1, 0)
            else:
                children = [part for item in node.value for part in (item if isinstance(item, tuple) else (item,))]
                sizes = [self._expanded(child) for child in children]
                result = (1 + sum(size for size, _ in sizes), 1 + max((depth for _, depth in sizes), default=0))
            self.expanded[id(node)] = result
            return result

        def _check_number(self, node: Any) -> None:
            if (
                node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
                and len(node.value) > self.limits.max_number_chars
            ):
                raise self.fail(
                    node.start_mark,
                    f"a number of {len(node.value)} characters (the limit is {self.limits.max_number_chars})",
                )

        def _check_duplicates(self, node: Any) -> None:
            seen: dict[str, Any] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        raise DocumentError(
                            f"{_where(self.origin, key.start_mark)}: "
                            f"{_dotted(self.path + [key.value])}: duplicate key (first on line "
                            f"{seen[key.value].line + 1})"
                        )
                    seen[key.value] = key.start_mark

    _LOADER = BoundedLoader
    return BoundedLoader


def _path_part(parent: Any, index: Any) -> str:
    if isinstance(index, int):
        return f"[{index}]"
    if index is None:
        return "(key)" if parent is not None else ""
    return str(getattr(index, "value", index))
