"""The project's error types: every expected failure is one of these, printed as one line (no traceback)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class MlopsError(Exception):
    """An expected failure with a one-line message and the exit code the CLI returns."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class UsageError(MlopsError):
    """Bad flags, bad config, bad input files: exit code 2."""

    exit_code = 2


class OperationError(MlopsError):
    """The operation was attempted and failed (a job failed, AWS refused, findings at --fail-on): exit code 1."""

    exit_code = 1


def read_user_file(path: "Path", what: str) -> str:
    """Read a file the user named (a config, an input dump) as UTF-8, or fail with one line naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{what} is a directory, not a file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {what} {path}: {exc}") from None


class NotBuiltYet(UsageError):
    """A mission command whose implementation has not landed yet."""

    def __init__(self, command: str):
        super().__init__(f"`mlops {command}` is not built yet in this version; see the README's roadmap.")
