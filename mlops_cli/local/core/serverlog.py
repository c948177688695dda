"""The local AWS's log (`server.log`), rotated: it cannot grow without bound, whatever requests make it write.

`mlops local up` starts the server with its output appended to the log file. Once the server runs, this module
points the process's stdout and stderr (file descriptors 1 and 2, so what C code and child processes that
inherit them write, too) at a pipe, and a thread copies the pipe into the log through the standard library's
RotatingFileHandler: at MAX_BYTES the log becomes `server.log.1` (the older ones `.2`, ... up to BACKUPS) and a
new one starts. The files are created owner-only (the server runs with umask 077).
"""

from __future__ import annotations

import atexit
import codecs
import logging
import logging.handlers
import os
import sys
import threading
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 3
DRAIN_TIMEOUT_S = 2.0
MAX_BYTES_ENV = "MLOPS_LOCAL_LOG_MAX_BYTES"  # tests make it small


def rotate_output(log_file: Path, max_bytes: int | None = None, backups: int = BACKUPS) -> None:
    """From now on, this process's stdout and stderr go to `log_file`, rotated at `max_bytes` (MAX_BYTES_ENV,
    else MAX_BYTES)."""
    if max_bytes is None:
        setting = os.environ.get(MAX_BYTES_ENV, "")
        max_bytes = int(setting) if setting.isdigit() and int(setting) > 0 else MAX_BYTES
    handler = logging.handlers.RotatingFileHandler(log_file, maxBytes=max_bytes, backupCount=backups)
    handler.terminator = ""  # the text is copied as it was written, its own line breaks included
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    copier = threading.Thread(target=_copy, args=(read_end, handler), name="local-aws-log", daemon=True)
    copier.start()
    # At exit (SystemExit's message is written by then) the pipe is closed and drained: a server that stops
    # during start-up leaves its reason as the log's last line, which `mlops local up` quotes.
    atexit.register(_drain, copier)


def _drain(copier: threading.Thread) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    copier.join(timeout=DRAIN_TIMEOUT_S)  # jobs it started may still hold the pipe open: not for ever


def _copy(read_end: int, handler: logging.Handler) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while chunk := os.read(read_end, 65536):
        text = decoder.decode(chunk)
        if text:
            handler.emit(logging.makeLogRecord({"msg": text, "levelno": logging.INFO}))
