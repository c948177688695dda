"""The project's error types: every expected failure is one of these, printed as one line (no traceback)."""

from __future__ import annotations

import os
import stat
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


def read_user_file(path: Path, what: str, max_bytes: int | None = None) -> str:
    """Read a file the user named (a config, an input dump) as UTF-8, or fail with one line naming it.

    With `max_bytes`, never reads more than that (a device or a huge file is refused, not slurped).
    """
    try:
        # A named FIFO with no writer would block the open forever; a shell's <(…) is a pipe under /dev/fd.
        if stat.S_ISFIFO(os.stat(path).st_mode) and not str(path).startswith(
            ("/dev/fd/", "/proc/self/fd/", "/dev/stdin")
        ):
            raise UsageError(f"{what} is a FIFO, not a file: {path}")
        with open(path, "rb") as stream:
            data = stream.read(-1 if max_bytes is None else max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:
            raise UsageError(f"{path}: {what} larger than the {max_bytes}-byte limit")
        return data.decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"{what} is a directory, not a file: {path}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: {what} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def refused(status: object, message: str, *, hint: str | None = None) -> MlopsError:
    """The one exit-code rule for an answer the remote side (the endpoint's model, the Lambda function) refused
    with: a 4xx about the request's input is the user's input being wrong, exactly as if a local check had
    caught it, so exit 2 (retrying the same input cannot help); a 5xx, or 408/429 (timeouts, throttling: not
    about the input), is a failed operation, exit 1. `mlops invoke` and `mlops lambda invoke` both use it."""
    if isinstance(status, int) and 400 <= status < 500 and status not in (408, 429):
        return UsageError(message, hint=hint)
    return OperationError(message, hint=hint)


class Interrupted(MlopsError):
    """Ctrl-C: exit code 130, with what still goes on in AWS and how to stop or finish it."""

    exit_code = 130
