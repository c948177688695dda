"""Layered configuration: built-in defaults < YAML files (--config, later wins) < MLOPS_SECTION__KEY env < flags.

Every error names where the bad value came from (file and line, env var, or flag), the key path and what
was expected, as one line with exit code 2.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.config.project import shown
from mlops_cli.errors import UsageError, read_user_file

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

ENV_PREFIX = "MLOPS_"
# A top-level key of any config file: other config files read before it (paths relative to it).
INCLUDE_KEY = "include"
MAX_CONFIG_FILES = 64  # read in one load, included ones counted: a config is a handful of files
# AWS's own conventions, taken at the environment layer (an MLOPS_AWS__* variable wins over them).
AWS_ENV = {
    "AWS_PROFILE": "aws.profile",
    "AWS_REGION": "aws.region",
    "AWS_DEFAULT_REGION": "aws.region",
    "AWS_ENDPOINT_URL": "aws.endpoint_url",
}
# Variables read by the CLI (or its local AWS server) itself, not config keys.
RESERVED_ENV = {
    "MLOPS_CONFIG",
    "MLOPS_HOME",
    "MLOPS_OUTPUT",
    "MLOPS_LOCAL_JOURNAL",
    "MLOPS_LOCAL_IAM_PROPAGATION_S",
    "MLOPS_LOCAL_STRICT",
    "MLOPS_LOCAL_SPOT_INTERRUPTIONS",
    "MLOPS_LOCAL_SERVERLESS_IDLE_S",
    "MLOPS_LOCAL_IDLE_TIMEOUT_S",
    "MLOPS_LOCAL_HEADER_TIMEOUT_S",
    "MLOPS_LOCAL_MAX_CONNECTIONS",
    "MLOPS_LOCAL_LOG_MAX_BYTES",
}


@dataclass
class Source:
    """Where a key's value came from, for error messages."""

    kind: str  # "file", "env", "flag"
    name: str
    line: int | None = None

    def describe(self) -> str:
        if self.kind == "file":
            return f"{self.name}:{self.line}" if self.line else self.name
        return f"{self.kind} {self.name}"


@dataclass
class Layers:
    data: dict[str, Any] = field(default_factory=dict)
    sources: dict[tuple[str, ...], Source] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # every config file read, includes first, in reading order
    digests: dict[str, str] = field(default_factory=dict)  # each file read: the sha256 of the text it had

    def set(self, path: tuple[str, ...], value: Any, source: Source) -> None:
        node = self.data
        for depth, key in enumerate(path[:-1], 1):
            if not isinstance(node.get(key), dict):
                node[key] = {}
                self.sources.pop(path[:depth], None)  # the value it replaced is no longer what errors are about
            node = node[key]
        node[path[-1]] = value
        self.sources.pop(path, None)  # re-inserted: the order of `sources` is the order layers set keys
        self.sources[path] = source

    def source_of(self, path: tuple[str, ...]) -> Source | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self.sources:
                return self.sources[path[:end]]
        # A section-level error (e.g. min > max): blame the last layer that set a key inside it.
        inside = [source for key, source in self.sources.items() if key[: len(path)] == path]
        return inside[-1] if inside else None


def _key_lines(root: Any) -> dict[tuple[str, ...], int]:
    """Map each key path of a composed YAML mapping document to its 1-based line."""
    import yaml

    lines: dict[tuple[str, ...], int] = {}
    stack: list[tuple[Any, tuple[str, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key_path = path + (str(key_node.value),)
                lines[key_path] = key_node.start_mark.line + 1
                stack.append((value_node, key_path))
    return lines


def _flatten(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], Any]]:
    for key, value in data.items():
        path = prefix + (str(key),)
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, path)
        else:
            yield path, value


def _read_yaml(path: Path, layers: Layers, chain: tuple[Path, ...] = (), root: Path | None = None) -> None:
    """One config file into `layers`: first the files its `include:` names (relative to it, in order), then its own
    keys, so the including file wins. Includes stay inside `root`, the folder of the config file named first (a
    project's config must not read, and echo in its errors, files from elsewhere on the machine), and at most
    MAX_CONFIG_FILES are read in all. An include cycle, a missing include or one outside is one line naming file
    and line."""
    import hashlib

    from mlops_cli import documents

    if len(layers.files) >= MAX_CONFIG_FILES:
        raise UsageError(f"{path}: more than {MAX_CONFIG_FILES} config files read: the includes fan out too far")
    text = read_user_file(path, "config file", documents.CONFIG.max_bytes)
    layers.digests[str(path)] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    data, yaml_root = documents.load_yaml(text, str(path), documents.CONFIG)
    if data is None:
        layers.files.append(str(path))
        return
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    lines = _key_lines(yaml_root)
    if INCLUDE_KEY in data:
        where = f"{path}:{lines.get((INCLUDE_KEY,), 1)}"
        chain = (*chain, path.resolve())
        root = root or path.resolve().parent
        for name in _include_names(data.pop(INCLUDE_KEY), where):
            included = Path(os.path.normpath(path.parent / name))
            if included.resolve() in chain:
                cycle = " -> ".join([*(shown(file) for file in chain), str(included)])
                raise UsageError(f"{where}: include cycle: {cycle}")
            if os.path.isabs(name) or not included.resolve().is_relative_to(root):
                raise UsageError(f"{where}: include {name}: outside {root}, the folder of the config named first")
            if not os.path.lexists(included):
                raise UsageError(f"{where}: included config file not found: {included}")
            if not included.is_file():
                raise UsageError(f"{where}: include {name}: not a regular file")
            _read_yaml(included, layers, chain, root)
    layers.files.append(str(path))
    for key_path, value in _flatten(data):
        layers.set(key_path, value, Source("file", str(path), lines.get(key_path)))


def _include_names(value: Any, where: str) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(name, str) and name for name in names):
        raise UsageError(f"{where}: include: expected a file name or a list of file names")
    return names


def _parse_env_value(name: str, text: str) -> Any:
    """An env value is read as YAML (so MLOPS_…=5 is a number), bounded; what is not YAML stays a string."""
    from mlops_cli import documents

    try:
        return documents.load_yaml(text, f"env {name}", documents.ENV_VALUE)[0]
    except documents.SyntaxProblem:
        return text


def env_key_path(name: str) -> tuple[str, ...]:
    return tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))


def _config_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables that are config layers, in the order they apply (AWS's conventions, then MLOPS_* sorted)."""
    taken = {name: env[name] for name in AWS_ENV if env.get(name)}
    taken.update(
        (name, value) for name, value in sorted(env.items()) if name.startswith(ENV_PREFIX) and name not in RESERVED_ENV
    )
    return taken


def _read_env(env: Mapping[str, str], layers: Layers) -> None:
    for name, value in _config_env(env).items():
        if name in AWS_ENV:
            layers.set(tuple(AWS_ENV[name].split(".")), value, Source("env", name))
        else:
            layers.set(env_key_path(name), _parse_env_value(name, value), Source("env", name))


def _closest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _fields_at(path: tuple[str, ...]) -> list[str]:
    """The valid keys of the section at `path` (aliases as users write them)."""
    from pydantic import BaseModel

    from mlops_cli.config.schema import Config

    model: Any = Config
    for key in path:
        names = {(f.alias or n): f for n, f in model.model_fields.items()}
        annotation = names[key].annotation if key in names else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [(f.alias or n) for n, f in model.model_fields.items()]


def _describe_error(error: Mapping[str, Any], layers: Layers) -> str:
    path = tuple(str(part) for part in error["loc"])
    source = layers.source_of(path)
    where = f"{source.describe()}: " if source else ""
    dotted = ".".join(path) if path else "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{where}unknown key '{dotted}'{_closest(path[-1], _fields_at(path[:-1]))}"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_pattern_mismatch":
        from mlops_cli.config.schema import PATTERN_MEANINGS

        pattern = error.get("ctx", {}).get("pattern", "")
        message = f"expected {PATTERN_MEANINGS.get(pattern, f'a value matching {pattern}')}"
    if error["type"] not in ("value_error", "assertion_error") and "input" in error:
        shown = repr(error["input"])
        message += f" (got {shown[:60]})"
    return f"{where}{dotted}: {message}"


def load_config(
    files: Iterable[str | Path] = (),
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    flag_names: Mapping[str, str] | None = None,
    read: list[str] | None = None,
    digests: dict[str, str] | None = None,
) -> Config:
    """Build the config from all layers; raise UsageError naming the first problem. `read`, when given, receives
    the config files actually read, included ones too, in reading order; `digests` the sha256 of each one's text."""
    from pydantic import ValidationError

    from mlops_cli.config.schema import Config

    layers = Layers()
    for file in files:
        _read_yaml(Path(file), layers)
    if read is not None:
        read.extend(layers.files)
    if digests is not None:
        digests.update(layers.digests)
    _read_env(os.environ if env is None else env, layers)
    for dotted, value in (overrides or {}).items():
        if value is not None:
            flag = (flag_names or {}).get(dotted) or "--" + dotted.split(".")[-1].replace("_", "-")
            layers.set(tuple(dotted.split(".")), value, Source("flag", flag))
    try:
        return Config.model_validate(layers.data)
    except ValidationError as exc:
        errors = exc.errors()
        extra = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise UsageError(_describe_error(errors[0], layers) + extra) from None


def load_config_values(
    files: Iterable[str | Path] = (),
    overrides: Mapping[str, Any] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """(`load_config(...).as_plain()`, the config files read), from an earlier run's cache when nothing that
    decides them changed (config/cache.py): then neither pydantic nor YAML is imported. Only regular files are
    remembered (a pipe such as `-c <(...)` cannot be read twice)."""
    import hashlib

    from mlops_cli import documents
    from mlops_cli.config import cache

    names = [str(file) for file in files]
    flags = {dotted: value for dotted, value in (overrides or {}).items() if value is not None}
    entry = None
    if all(cache.regular_file(name) for name in names):
        try:
            texts = [(name, read_user_file(Path(name), "config file", documents.CONFIG.max_bytes)) for name in names]
        except UsageError:  # load_config says it, after any error an earlier file may come first with
            texts = None
        if texts is not None:
            entry = cache.key(texts, _config_env(os.environ), flags)
            kept = cache.read(entry)
            if kept is not None:
                return kept
    read: list[str] = []
    digests: dict[str, str] = {}
    values = load_config(names, overrides=overrides, flag_names=flag_names, read=read, digests=digests).as_plain()
    # Stored only when what was validated is what the key was made of (no file changed in between).
    if entry and all(digests.get(name) == hashlib.sha256(text.encode()).hexdigest() for name, text in texts or []):
        cache.write(entry, values, read, digests)
    return values, read
