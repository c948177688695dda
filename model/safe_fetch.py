"""SSRF-safe fetching of image URLs for the inference handlers (standard library only).

The endpoint runs inside a VPC next to the instance metadata service and private services, so a URL
from a client is treated as hostile:

- only ``http`` and ``https``; no user-info (``user:pass@``); ports 80 and 443 only by default (a
  public image host needs nothing else, and it keeps the endpoint from being used as a port scanner);
- the host is resolved here, once, and *every* address it resolves to must be public (see
  :func:`is_public_address`); the connection then goes to that checked address, so a second DNS
  answer (DNS rebinding) can never be used. The ``Host`` header and TLS SNI/certificate check keep the
  original name;
- numeric host spellings that ``inet_aton`` would accept but that are not plain dotted-quad
  (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``) are refused outright;
- redirects are followed by hand, at most ``max_redirects``, each hop checked like the first URL
  *before* any connection is made;
- connect, read and total timeouts, and a byte limit on the body (``Content-Length`` checked first,
  then the stream is cut at the limit).

Every refusal raises :class:`InferenceInputError` (a ``ValueError`` carrying an HTTP status) with a
one-line message; the model server turns it into a 4xx JSON answer.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InferenceInputError(ValueError):
    """A bad request to the inference handlers; ``status`` is the HTTP status to answer with.

    Defined here, in the lowest-level input module, so that both URL fetching and image decoding
    raise the same type; ``model.inference`` re-exports it.
    """

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class UnsafeURLError(InferenceInputError):
    """The URL was refused by policy; nothing was connected to."""


class FetchError(InferenceInputError):
    """The URL passed the policy but fetching it failed (network, HTTP status, size, time)."""


# Special-purpose ranges (IANA registries) refused in addition to what ``ipaddress`` calls non-global;
# listed explicitly because ``is_global`` differs between Python versions (3.11 calls fec0::/10 global).
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. the metadata service 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
        "::/8",  # unspecified, loopback, IPv4-compatible (::a.b.c.d)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, incl. Teredo 2001::/32
        "2001:db8::/32",
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: IPAddress) -> bool:
    """True only for a globally routable unicast address.

    IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64 ``64:ff9b::a.b.c.d``,
    6to4 ``2002:AABB:CCDD::``) are judged by the IPv4 address they lead to.
    """
    if address.version == 6:
        if address.scope_id:
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64_WELL_KNOWN:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    if any(address in network for network in _BLOCKED_NETWORKS):
        return False
    return address.is_global and not address.is_multicast


def resolve_host(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (the default resolver of the policy)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of :func:`fetch`. ``resolve``, ``is_allowed_address`` and ``connect`` are injectable so
    tests can stand a loopback server in for a public host without touching real DNS or the network."""

    allowed_ports: frozenset | None = frozenset({80, 443})  # None = any port
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 3
    max_url_length: int = 2048
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 5.0
    total_timeout_s: float = 15.0
    resolve: Callable[[str, int], list] = resolve_host
    is_allowed_address: Callable[[IPAddress], bool] = is_public_address
    connect: Callable[..., socket.socket] = field(default=socket.create_connection)


DEFAULT_POLICY = FetchPolicy()


@dataclass(frozen=True)
class CheckedTarget:
    """A URL that passed every check, with the addresses it may be fetched from."""

    scheme: str
    host: str  # the name as given (IDNA-encoded), used for Host and SNI
    port: int
    path: str  # path + query, percent-encoded
    addresses: tuple  # checked IP strings, connected to in order


_HOST_NAME = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)


def _parse_legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address a browser or ``inet_aton`` would read from a numeric host like ``0x7f.1``.

    None when the host is not numeric (an ordinary name); raises for numeric hosts that are invalid.
    Follows the WHATWG URL "IPv4 parser": 1-4 parts, each decimal, octal (leading 0) or hex (0x).
    """
    parts = host.split(".")
    if not _NUMERIC_LABEL.match(parts[-1]):
        return None
    if len(parts) > 4 or not all(_NUMERIC_LABEL.match(part) for part in parts):
        raise UnsafeURLError(f"invalid numeric host {host!r}")
    numbers = []
    for part in parts:
        if part.startswith("0x"):
            numbers.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not set(part) <= set("01234567"):
                raise UnsafeURLError(f"invalid numeric host {host!r}")
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    if any(number > 255 for number in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise UnsafeURLError(f"invalid numeric host {host!r}")
    value = numbers[-1]
    for index, number in enumerate(numbers[:-1]):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _literal_address(host: str) -> IPAddress | None:
    """The IP address a host literally names, or None for a DNS name."""
    if ":" in host:
        if "%" in host:
            raise UnsafeURLError("IPv6 zone identifiers are not allowed in URLs")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeURLError(f"invalid IPv6 host {host!r}") from None
    address = _parse_legacy_ipv4(host)
    if address is not None and str(address) != host:
        raise UnsafeURLError(f"non-canonical IPv4 spelling {host!r} (= {address}) is not allowed")
    return address


def check_url(url: str, policy: FetchPolicy = DEFAULT_POLICY) -> CheckedTarget:
    """Apply every policy check to ``url`` (resolving its host once) without connecting anywhere."""
    if not isinstance(url, str) or not url:
        raise UnsafeURLError("url must be a non-empty string")
    if len(url) > policy.max_url_length:
        raise UnsafeURLError(f"url is longer than {policy.max_url_length} characters")
    if any(char <= " " or char == "\x7f" for char in url):
        raise UnsafeURLError("url contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeURLError(f"malformed url: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "(none)"
        raise UnsafeURLError(f"url scheme {shown} is not allowed; use http or https")
    if "@" in parts.netloc:
        raise UnsafeURLError("urls with credentials (user@host) are not allowed")
    if port is None:
        port = 443 if scheme == "https" else 80
    if policy.allowed_ports is not None and port not in policy.allowed_ports:
        allowed = ", ".join(str(p) for p in sorted(policy.allowed_ports))
        raise UnsafeURLError(f"port {port} is not allowed (allowed: {allowed})")

    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURLError("url has no host")
    literal = _literal_address(host)
    if literal is None:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise UnsafeURLError(f"invalid host name {parts.hostname!r}") from None
        if len(host) > 253 or not _HOST_NAME.match(host):
            raise UnsafeURLError(f"invalid host name {parts.hostname!r}")
        try:
            resolved = policy.resolve(host, port)
        except OSError:
            raise FetchError(f"could not resolve host {host!r}") from None
        try:
            addresses = [ipaddress.ip_address(address) for address in resolved]
        except ValueError:
            raise UnsafeURLError(f"host {host!r} resolved to an invalid address") from None
        if not addresses:
            raise FetchError(f"could not resolve host {host!r}")
        # Do not echo the resolved addresses: that would let clients map the private DNS.
        if not all(policy.is_allowed_address(address) for address in addresses):
            raise UnsafeURLError(f"host {host!r} resolves to a non-public address; refused")
    else:
        addresses = [literal]
        if not policy.is_allowed_address(literal):
            raise UnsafeURLError(f"address {literal} is not a public address; refused")

    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    unique = tuple(dict.fromkeys(str(address) for address in addresses))
    return CheckedTarget(scheme, host, port, path, unique)


class _Deadline:
    """The total time limit of one fetch, redirects included.

    Socket timeouts bound each read, not the sum: a server dripping a byte every few seconds would hold a
    fetch for ever. At the deadline the socket in use is shut down, which wakes a read blocked on it.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut_down(sock)

    def cancel(self) -> None:
        self._timer.cancel()

    def error(self) -> FetchError:
        return FetchError(f"fetching the url took longer than {self.seconds:g} s")

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._sock is not None:
                _shut_down(self._sock)


def _shut_down(sock: socket.socket) -> None:
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain-socket method: also right for TLS sockets
    except OSError:
        pass  # already closed


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to a checked address; ``host`` (the name) is used only for the Host header."""

    def __init__(self, target: CheckedTarget, policy: FetchPolicy, deadline: _Deadline):
        super().__init__(target.host, target.port, timeout=policy.connect_timeout_s)
        self._target = target
        self._policy = policy
        self._deadline = deadline

    def _checked_socket(self) -> socket.socket:
        last_error: OSError | None = None
        for address in self._target.addresses:
            remaining = self._deadline.remaining()
            if remaining <= 0:
                raise self._deadline.error()
            try:
                sock = self._policy.connect(
                    (address, self._target.port), timeout=min(self._policy.connect_timeout_s, remaining)
                )
            except OSError as error:
                last_error = error
                continue
            sock.settimeout(self._policy.read_timeout_s)
            self._deadline.watch(sock)
            return sock
        raise FetchError(f"could not connect to {self._target.host!r}: {last_error}")

    def connect(self) -> None:
        self.sock = self._checked_socket()


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Built on first https fetch, not at import: loading the CA store costs time at model load.
    return ssl.create_default_context()


class _PinnedTLSConnection(_PinnedConnection):
    default_port = 443

    def connect(self) -> None:
        # server_hostname = the original name: SNI and certificate checks are against it, not the IP.
        self.sock = _tls_context().wrap_socket(
            self._checked_socket(), server_hostname=self._target.host, do_handshake_on_connect=False
        )
        self._deadline.watch(self.sock)  # wrapping took over the socket: watch the new one, then shake hands
        self.sock.do_handshake()


def _read_limited(response: http.client.HTTPResponse, policy: FetchPolicy, deadline: _Deadline) -> bytes:
    declared = response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > policy.max_bytes:
        raise FetchError(f"image at url is larger than {policy.max_bytes} bytes", status=413)
    chunks: list[bytes] = []
    received = 0
    while True:
        chunk = response.read(64 * 1024)
        if deadline.expired:  # the read may have ended only because the deadline cut the connection
            raise deadline.error()
        if not chunk:
            return b"".join(chunks)
        received += len(chunk)
        if received > policy.max_bytes:
            raise FetchError(f"image at url is larger than {policy.max_bytes} bytes", status=413)
        chunks.append(chunk)


def fetch(url: str, policy: FetchPolicy = DEFAULT_POLICY) -> bytes:
    """GET ``url`` under ``policy`` and return the body; raises :class:`InferenceInputError` subclasses."""
    deadline = _Deadline(policy.total_timeout_s)
    try:
        for _hop in range(policy.max_redirects + 1):
            target = check_url(url, policy)
            connection_type = _PinnedTLSConnection if target.scheme == "https" else _PinnedConnection
            connection = connection_type(target, policy, deadline)
            try:
                connection.request(
                    "GET",
                    target.path,
                    headers={"User-Agent": "mlops-inference", "Accept": "image/*", "Accept-Encoding": "identity"},
                )
                response = connection.getresponse()
                if response.status in _REDIRECT_STATUSES:
                    location = response.getheader("Location")
                    if not location:
                        raise FetchError(f"url answered HTTP {response.status} without a Location")
                    url = urljoin(url, location.strip())
                    continue
                if response.status != 200:
                    raise FetchError(f"url answered HTTP {response.status} {response.reason}".rstrip())
                return _read_limited(response, policy, deadline)
            except ssl.SSLCertVerificationError as error:
                raise FetchError(f"TLS certificate of {target.host!r} is not valid: {error.verify_message}") from None
            except (OSError, http.client.HTTPException) as error:
                if deadline.expired:
                    raise deadline.error() from None
                if isinstance(error, TimeoutError):  # socket.timeout is TimeoutError
                    raise FetchError(f"url did not answer within {policy.read_timeout_s:g} s") from None
                raise FetchError(f"fetching the url failed: {type(error).__name__}: {error}".rstrip(": ")) from None
            finally:
                connection.close()
        raise FetchError(f"url redirected more than {policy.max_redirects} times")
    finally:
        deadline.cancel()
