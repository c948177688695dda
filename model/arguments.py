"""The entry points' command line: every hyperparameter as ``--name value`` (and ``--name-with-dashes``), values
as SageMaker passes them (JSON-encoded) or as typed, framework arguments ignored, errors as one line and exit 2."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from model.hyperparameters import TrainConfig, declared, default_of, kind_of, rule_of


def parse_bool(text: str) -> bool:
    value = _json_decoded(text)
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false/1/0, got {text!r}")


def _json_decoded(text: str) -> object:
    """SageMaker JSON-encodes hyperparameter values (``"\\"resnet50\\""``, ``"0.001"``); plain text passes through."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _typed(kind: type) -> Callable[[str], object]:
    def parse(text: str) -> object:
        value = _json_decoded(text)
        if kind is str:
            return str(value)
        if isinstance(value, bool) or (kind is int and isinstance(value, float) and not value.is_integer()):
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}")
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None

    return parse


def _spellings(name: str) -> list[str]:
    return sorted({f"--{name}", f"--{name.replace('_', '-')}"})


class ArgumentParser(argparse.ArgumentParser):
    """Errors are one line on stderr and exit code 2; ``--sagemaker_*`` framework arguments are ignored."""

    def error(self, message: str):
        self.exit(2, f"error: {message}\n")

    def parse_args(self, args=None, namespace=None):
        namespace, unknown = self.parse_known_args(args, namespace)
        unknown = _drop_framework_arguments(unknown)
        if unknown:
            self.error(f"unknown argument(s): {' '.join(unknown)}")
        return namespace


def _drop_framework_arguments(arguments: list[str]) -> list[str]:
    kept, skip_value = [], False
    for argument in arguments:
        if skip_value:
            skip_value = False
        elif argument.startswith(("--sagemaker_", "--sagemaker-")):
            skip_value = "=" not in argument
        else:
            kept.append(argument)
    return kept


def argument_parser(description: str) -> ArgumentParser:
    """A parser with every hyperparameter as ``--name`` and ``--name-with-dashes``."""
    parser = ArgumentParser(description=description)
    for spec in declared():
        kind = kind_of(spec)
        parser.add_argument(
            *_spellings(spec.name),
            dest=spec.name,
            type=parse_bool if kind is bool else _typed(kind),
            default=None,
            metavar=kind.__name__.upper(),
            help=f"{rule_of(spec).help} (default {default_of(spec)})",
        )
    return parser


def add_path_argument(parser: argparse.ArgumentParser, name: str, **kwargs) -> None:
    parser.add_argument(*_spellings(name), dest=name, **kwargs)


def config_from_args(namespace: argparse.Namespace, **defaults) -> TrainConfig:
    """The TrainConfig from parsed arguments; ``defaults`` override the built-in defaults, given flags win."""
    values = dict(defaults)
    for spec in declared():
        given = getattr(namespace, spec.name, None)
        if given is not None:
            values[spec.name] = given
    return TrainConfig(**values)
