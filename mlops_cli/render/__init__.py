"""All terminal output goes through here: JSON documents on stdout, rich tables, and log lines on stderr.

`--output json` prints exactly one JSON document on stdout; everything else (progress, logs) goes to stderr.
NO_COLOR and non-TTY output are respected. Whether a stream is a terminal is the stream's own isatty(), not
rich's opinion: FORCE_COLOR and TTY_COMPATIBLE (common in CI) make rich report a terminal, which should bring
colour to a CI log, never a screen-wide cut of identifiers or spinner frames.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_consoles: dict[str, Console] = {}
# Off a terminal (a pipe, a file, a CI log) nothing is cut to fit a screen: tables keep their natural width up to
# this, so an identifier someone will paste into the next command (a job, an endpoint, an ARN) stays whole.
PIPE_WIDTH = 1000


def on_terminal(stderr: bool = False) -> bool:
    """Whether stdout (or stderr) is an interactive terminal, as the stream itself says."""
    isatty = getattr(sys.stderr if stderr else sys.stdout, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream is no terminal
        return False


def console(stderr: bool = False) -> Console:
    """The shared rich console for stdout (results) or stderr (logs, progress)."""
    key = "err" if stderr else "out"
    stream = sys.stderr if stderr else sys.stdout
    existing = _consoles.get(key)
    # Re-create when the stream was swapped (CliRunner does this per invocation).
    if existing is None or existing.file is not stream:
        from rich.console import Console

        made = Console(file=stream, stderr=stderr, highlight=False, soft_wrap=True)
        if not on_terminal(stderr):
            made.width = PIPE_WIDTH
        _consoles[key] = made
    return _consoles[key]


def _as_rich_prints_it(message: str) -> bool:
    """Whether rich would print `message` (unstyled, unwrapped) exactly as it is: one line of printable
    characters (rich expands tabs, drops control codes) and nothing rich reads as an emoji code (`:name:`)."""
    import re

    return message.isprintable() and re.search(r":\S*:", message) is None


class Output:
    """How the current invocation renders: chosen once by the global flags."""

    def __init__(self, fmt: str = "table", verbosity: int = 0):
        self.fmt = fmt
        self.verbosity = verbosity  # -1 quiet, 0 normal, 1 verbose

    @property
    def json(self) -> bool:
        return self.fmt == "json"

    def result(self, data: Any, table: Callable[[Console, Any], None] | None = None) -> None:
        """Print a command's result: a JSON document, or a table/text via `table`."""
        if self.json or table is None:
            sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")
            sys.stdout.flush()
        else:
            table(console(), data)

    def info(self, message: str) -> None:
        if self.verbosity < 0:
            return
        if _as_rich_prints_it(message):  # one plain line: no need to import rich (~35 ms) to print it
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        else:
            console(stderr=True).print(message, markup=False)

    def detail(self, message: str) -> None:
        if self.verbosity > 0:
            console(stderr=True).print(message, markup=False, style="dim")

    def warn(self, message: str) -> None:
        console(stderr=True).print(f"warning: {message}", markup=False, style="yellow")

    def error(self, message: str, hint: str | None = None) -> None:
        err = console(stderr=True)
        err.print(f"error: {message}", markup=False, style="bold red")
        if hint:
            err.print(f"hint: {hint}", markup=False)

    def progress(self, **kwargs: Any) -> Any:
        """A rich Progress on stderr, hidden when quiet or not a TTY (no spinner frames in a CI log)."""
        from rich.progress import Progress

        return Progress(
            *kwargs.pop("columns", ()),
            console=console(stderr=True),
            disable=self.verbosity < 0 or not on_terminal(stderr=True),
            transient=False,
            **kwargs,
        )


# The caller's session token or profile would otherwise ride along with the local keys.
_SHADOWING_VARIABLES = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def shell_exports(_console: Console, variables: dict[str, str]) -> None:
    """`export NAME=value` lines for `eval "$(...)"` in sh/bash/zsh, values quoted; plain text, never wrapped."""
    import shlex

    sys.stdout.write(f"unset {' '.join(_SHADOWING_VARIABLES)}\n")
    sys.stdout.write("".join(f"export {name}={shlex.quote(value)}\n" for name, value in variables.items()))
    sys.stdout.flush()


def key_value_table(title: str, rows: list[tuple[str, Any]]) -> Callable[[Console, Any], None]:
    """A two-column table renderer for simple results."""

    def draw(out: Console, _data: Any) -> None:
        from rich.table import Table

        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for key, value in rows:
            table.add_row(key, "" if value is None else str(value))
        out.print(table)

    return draw
