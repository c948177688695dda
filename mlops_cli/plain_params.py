"""Plain parameter values skip Typer's pydantic coercion, so a command pays for pydantic only if it uses it.

Typer (0.29) checks every parameter's value through a pydantic TypeAdapter that it builds on the first use: even
`mlops config validate`, whose options are strings and flags, would import pydantic for them (~60 ms of a
~150 ms start). Where the value already is what that adapter returns unchanged (a `str` for a plain `str`
option, a `bool` for a flag, a list of strings for a repeated `str` option), it is taken as it is; anything
else (numbers, paths, choices, bounds, a value needing conversion) goes through Typer's own coercion, so every
result and every error message is Typer's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typer._coercion import RuntimeParam, build_runtime_param


def _plain(annotation: Any, value: Any) -> bool:
    if annotation is str or annotation is bool:
        return type(value) is annotation
    if annotation == list[str]:
        return isinstance(value, (list, tuple)) and all(type(item) is str for item in value)
    return False


@dataclass(frozen=True)
class PlainOrTyper(RuntimeParam):
    """A plain value as it is; any other through the coercion Typer would have used (built on first need)."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if _plain(self.annotation, value):
            return list(value) if self.annotation == list[str] else value
        return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)


def install(command: Any, ctx: Any) -> None:
    """Give every plain-typed parameter of `command` and its subcommands the shortcut, `--help` included (Click
    makes that option once per command, on first use, from the help names all contexts inherit from `ctx`)."""
    for param in [*command.params, command.get_help_option(ctx)]:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", True) is not None:
            continue  # not a Typer parameter, or its coercion is made already
        info = descriptor.parameter_info
        if (
            descriptor.annotation in (str, bool, list[str])
            and not (descriptor.is_choice or descriptor.is_path or descriptor.is_file)
            and all(getattr(info, name, None) is None for name in ("parser", "min", "max"))
        ):
            param._runtime_param = PlainOrTyper(parameter_info=info, annotation=descriptor.annotation)
    for sub in getattr(command, "commands", {}).values():
        install(sub, ctx)
