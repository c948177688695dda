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

from mlops_cli.errors import UsageError, read_user_file

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

ENV_PREFIX = "MLOPS_"
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


def _read_text(path: Path) -> str:
    from mlops_cli import documents

    return read_user_file(path, "config file", documents.CONFIG.max_bytes)


def _read_yaml(path: Path, text: str, layers: Layers) -> None:
    from mlops_cli import documents

    data, root = documents.load_yaml(text, str(path), documents.CONFIG)
    if data is None:
        return
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    lines = _key_lines(root)
    for key_path, value in _flatten(data):
        layers.set(key_path, value, Source("file", str(path), lines.get(key_path)))


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
    """The variables that are config layers (AWS_* conventions first, then MLOPS_* sorted), as set."""
    taken = {name: env[name] for name in AWS_ENV if env.get(name)}
    taken.update(
        (name, value) for name, value in sorted(env.items()) if name.startswith(ENV_PREFIX) and name not in RESERVED_ENV
    )
    return taken


def _read_env(env: Mapping[str, str], layers: Layers) -> None:
    for name, value in env.items():
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
) -> Config:
    """Build the config from all layers; raise UsageError naming the first problem."""
    texts = ((Path(file), _read_text(Path(file))) for file in files)  # each read as its turn comes
    return _validate(texts, *_layer_inputs(env, overrides), flag_names or {})


def load_config_values(
    files: Iterable[str | Path] = (),
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What `load_config(...).as_plain()` returns, from the cache of earlier runs when no input and no source
    file that decides it changed (config/cache.py): then neither pydantic nor YAML is imported."""
    from mlops_cli.config import cache

    files = list(files)
    try:
        texts = [(Path(file), _read_text(Path(file))) for file in files]
    except UsageError:  # raised again by load_config, after the error an earlier file may come first with
        return load_config(files, env, overrides, flag_names).as_plain()
    taken_env, taken_flags = _layer_inputs(env, overrides)
    entry = cache.key([text for _, text in texts], taken_env, taken_flags)
    values = cache.read(entry)
    if values is None:
        values = _validate(texts, taken_env, taken_flags, flag_names or {}).as_plain()
        cache.write(entry, values)
    return values


def _layer_inputs(
    env: Mapping[str, str] | None, overrides: Mapping[str, Any] | None
) -> tuple[dict[str, str], dict[str, Any]]:
    """The variables and flags that are config layers (a flag left unset is no layer)."""
    flags = {dotted: value for dotted, value in (overrides or {}).items() if value is not None}
    return _config_env(os.environ if env is None else env), flags


def _validate(
    texts: Iterable[tuple[Path, str]],
    env: Mapping[str, str],
    overrides: Mapping[str, Any],
    flag_names: Mapping[str, str],
) -> Config:
    from pydantic import ValidationError

    from mlops_cli.config.schema import Config

    layers = Layers()
    for path, text in texts:
        _read_yaml(path, text, layers)
    _read_env(env, layers)
    for dotted, value in overrides.items():
        flag = flag_names.get(dotted) or "--" + dotted.split(".")[-1].replace("_", "-")
        layers.set(tuple(dotted.split(".")), value, Source("flag", flag))
    try:
        return Config.model_validate(layers.data)
    except ValidationError as exc:
        errors = exc.errors()
        extra = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise UsageError(_describe_error(errors[0], layers) + extra) from None


def default_config_files(env: Mapping[str, str] | None = None) -> list[str]:
    """Files used when no --config is given: $MLOPS_CONFIG (os.pathsep-separated), else none."""
    value = (os.environ if env is None else env).get("MLOPS_CONFIG", "")
    return [part for part in value.split(os.pathsep) if part]
