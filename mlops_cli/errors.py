"""The project's error types: every expected failure is one of these, printed as one line (no traceback)."""

from __future__ import annotations


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


class NotBuiltYet(UsageError):
    """A mission command whose implementation has not landed yet."""

    def __init__(self, command: str):
        super().__init__(f"`mlops {command}` is not built yet in this version; see the README's roadmap.")
