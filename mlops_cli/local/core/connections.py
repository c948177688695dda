"""The local AWS's HTTP server, bounded: werkzeug's threaded server with a cap on open connections, an idle
timeout and a deadline for a request's headers, so half-open connections (a client that sends half a header,
or one byte now and then) cannot pile up threads until a real request waits.

- **Idle timeout**: a connection that sends nothing for `idle_timeout_s` (waiting for a request, its headers or
  its body) is closed; a request whose body stalls gets S3's `RequestTimeout` (mlops_cli.local.core.guard).
- **Header deadline**: a request's line and headers must all arrive within `header_timeout_s` of the first wait
  for them, however slowly they trickle; a reaper thread closes connections past it. What the front door reads
  of a body before it can check a signature (a form POST's fields) gets a deadline of its own
  (`environ[UNVERIFIED_READ]`): a byte now and then would otherwise hold the connection for ever, and 512 such
  connections, no credentials needed, would answer everyone else `503 SlowDown`.
- **Connection cap**: beyond `max_connections` open connections a new one is answered at once, without a
  thread, with S3's `503 SlowDown` ("Please reduce your request rate."), which every AWS SDK retries with
  backoff.
- **Chunked bodies read exactly**: werkzeug's `DechunkedInput` counts a chunk the client cut short (it closed
  mid-chunk) as read whole, and `io.RawIOBase.read` then copies that many bytes from a buffer holding only what
  arrived: the server's own memory (a 64 KiB over-read for an unsigned form POST, a segfault of the whole server
  for a 1 MiB read). Here a short chunk or a bad chunk header is a `ChunkedBodyError`, answered with a 400.

Set with MLOPS_LOCAL_IDLE_TIMEOUT_S, MLOPS_LOCAL_HEADER_TIMEOUT_S and MLOPS_LOCAL_MAX_CONNECTIONS (tests use short
ones).
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mlops_cli.local.core import redact

# The environ key of a context manager: reads made inside it must finish within the header deadline.
UNVERIFIED_READ = "mlops.unverified_read"
IDLE_TIMEOUT_ENV = "MLOPS_LOCAL_IDLE_TIMEOUT_S"
HEADER_TIMEOUT_ENV = "MLOPS_LOCAL_HEADER_TIMEOUT_S"
MAX_CONNECTIONS_ENV = "MLOPS_LOCAL_MAX_CONNECTIONS"
_REAP_EVERY_S = 0.1
SLOW_DOWN = (
    b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\nRetry-After: 1\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)
_SLOW_DOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


@dataclass(frozen=True)
class ConnectionLimits:
    # S3 closes idle connections after about 20 s; the SDKs' default read timeout is 60 s.
    idle_timeout_s: float = 20.0
    header_timeout_s: float = 20.0
    # Every connection holds a thread while it is open: enough for the SDKs' pools (10 each) across many clients.
    max_connections: int = 512

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConnectionLimits:
        """The limits, each from its variable when set; ValueError naming the variable when it is no number > 0."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name, field, kind in (
            (IDLE_TIMEOUT_ENV, "idle_timeout_s", float),
            (HEADER_TIMEOUT_ENV, "header_timeout_s", float),
            (MAX_CONNECTIONS_ENV, "max_connections", int),
        ):
            if environ.get(name):
                try:
                    values[field] = kind(environ[name])
                except ValueError:
                    values[field] = 0
                if not values[field] > 0:
                    raise ValueError(f"{name}={environ[name]!r} is not a {kind.__name__} above 0")
        return cls(**values)


class ChunkedBodyError(OSError):
    """A `Transfer-Encoding: chunked` body that is malformed or ends inside a chunk."""


def _exact_dechunked_input() -> type:
    """werkzeug's DechunkedInput with a `readinto` that counts only the bytes that arrived."""
    from werkzeug.serving import DechunkedInput

    class ExactDechunkedInput(DechunkedInput):
        def read_chunk_len(self) -> int:
            try:
                return int(super().read_chunk_len())
            except OSError as exc:  # werkzeug's words for a bad size line
                raise ChunkedBodyError(str(exc)) from None

        def readinto(self, buf: Any) -> int:
            view = memoryview(buf).cast("B")
            read = 0
            while not self._done and read < len(view):
                if self._len == 0:
                    self._len = self.read_chunk_len()
                    self._done = self._len == 0
                if self._len > 0:
                    wanted = min(len(view) - read, self._len)
                    data = self._rfile.read(wanted)
                    if len(data) != wanted:
                        raise ChunkedBodyError("the chunked body ends inside a chunk")
                    view[read : read + wanted] = data
                    self._len -= wanted
                    read += wanted
                if self._len == 0 and self._rfile.readline(2) not in (b"\n", b"\r\n", b"\r"):
                    raise ChunkedBodyError("a chunk is not followed by its line break")
            return read

    return ExactDechunkedInput


class _HeaderDeadlines:
    """Connections waiting for a request's headers, with when they must have them; a reaper thread shuts down
    those past it (their handler's blocked read returns, and the handler closes them)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deadlines: dict[socket.socket, float] = {}
        threading.Thread(target=self._reap, name="local-aws-header-deadlines", daemon=True).start()

    def expect(self, connection: socket.socket, seconds: float) -> None:
        with self.lock:
            self.deadlines[connection] = time.monotonic() + seconds

    def met(self, connection: socket.socket) -> None:
        with self.lock:
            self.deadlines.pop(connection, None)

    @contextmanager
    def within(self, connection: socket.socket, seconds: float) -> Iterator[None]:
        """What the block reads from `connection` must arrive within `seconds`, or the connection is shut down."""
        self.expect(connection, seconds)
        try:
            yield
        finally:
            self.met(connection)

    def _reap(self) -> None:
        while True:
            time.sleep(_REAP_EVERY_S)
            now = time.monotonic()
            with self.lock:
                late = [connection for connection, deadline in self.deadlines.items() if deadline < now]
                for connection in late:
                    del self.deadlines[connection]
            for connection in late:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:  # already closed by its client
                    pass


def bounded_handler(base: Any, limits: ConnectionLimits, deadlines: _HeaderDeadlines) -> type:
    """`base` (a werkzeug request handler) with the idle timeout on its socket and the header deadline."""

    class BoundedHandler(base):
        timeout = limits.idle_timeout_s  # socketserver.StreamRequestHandler sets it on the connection

        def handle_one_request(self) -> None:
            deadlines.expect(self.connection, limits.header_timeout_s)
            try:
                super().handle_one_request()
            finally:
                deadlines.met(self.connection)

        def make_environ(self) -> dict[str, Any]:
            environ: dict[str, Any] = super().make_environ()
            if environ.get("wsgi.input_terminated"):  # chunked: read by the exact dechunker, never werkzeug's
                environ["wsgi.input"] = _exact_dechunked_input()(self.rfile)
            environ[UNVERIFIED_READ] = functools.partial(deadlines.within, self.connection, limits.header_timeout_s)
            return environ

        def parse_request(self) -> bool:
            parsed: bool = super().parse_request()
            deadlines.met(self.connection)  # the headers are in: the idle timeout bounds the body
            return parsed

        def log(self, type: str, message: str, *args: Any) -> None:
            """werkzeug's log line, without a presigned URL's signature or session token (the request line)."""
            super().log(type, message, *(redact.query(arg) if isinstance(arg, str) else arg for arg in args))

        def log_error(self, format: str, *args: Any) -> None:
            if args and isinstance(args[0], str) and args[0].startswith("Request timed out"):
                return  # an idle connection closed: expected, and one log line each would let anyone fill the log
            super().log_error(format, *args)

    return BoundedHandler


def make_bounded_server(host: str, port: int, app: Any, handler: type, limits: ConnectionLimits) -> Any:
    """werkzeug's threaded WSGI server on (host, port) serving `app` with `handler`, within `limits`."""
    from werkzeug.serving import ThreadedWSGIServer

    class BoundedServer(ThreadedWSGIServer):
        def __init__(self) -> None:
            super().__init__(host, port, app, handler=bounded_handler(handler, limits, _HeaderDeadlines()))
            self.open_connections = 0
            self.count_lock = threading.Lock()

        def process_request(self, request: Any, client_address: Any) -> None:
            with self.count_lock:
                full = self.open_connections >= limits.max_connections
                if not full:
                    self.open_connections += 1
            if full:
                _slow_down(request)
                self.shutdown_request(request)
                return
            try:
                super().process_request(request, client_address)  # a thread of its own
            except BaseException:
                self._closed()
                raise

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            try:
                super().process_request_thread(request, client_address)
            finally:
                self._closed()

        def _closed(self) -> None:
            with self.count_lock:
                self.open_connections -= 1

    return BoundedServer()


def _slow_down(connection: socket.socket) -> None:
    """The 503, then what already arrived of the request read and dropped (closing over unread bytes would reset
    the connection, and the client could lose the answer)."""
    try:
        connection.settimeout(1.0)
        connection.sendall(SLOW_DOWN % (len(_SLOW_DOWN_BODY), _SLOW_DOWN_BODY))
        connection.setblocking(False)
        while connection.recv(65536):
            pass
    except OSError:  # nothing more to read now, the client is gone, or it does not read: refused either way
        pass
