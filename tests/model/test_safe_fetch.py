"""SSRF rules of model.safe_fetch, with an injected resolver and a real HTTP server on loopback.

Nothing here reaches a non-loopback address: names resolve through a dict, connections go through a
recorder that refuses anything but the test server, and refusals are checked to happen before any
connection attempt.
"""

from __future__ import annotations

import dataclasses
import http.server
import ipaddress
import socket
import threading

import pytest

from model.safe_fetch import (
    DEFAULT_POLICY,
    FetchError,
    InferenceInputError,
    UnsafeURLError,
    check_url,
    fetch,
    is_public_address,
)

# The loopback address the test server listens on; the test policy treats it (and only it) as "public",
# so the server can stand in for an image host while 127.0.0.1 ("localhost") stays forbidden.
STAND_IN_PUBLIC = "127.0.0.2"
PUBLIC_EXAMPLE = "93.184.215.14"  # a public address; never connected to (the recorder refuses it)
IMAGE_BYTES = b"\x89PNG fake image payload"


class Network:
    """Injected resolver + connector: records every lookup and connection attempt."""

    def __init__(self, names: dict[str, list[str]]):
        self.names = names
        self.lookups: list[str] = []
        self.connections: list[tuple[str, int]] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.names[host])

    def connect(self, address: tuple[str, int], timeout: float) -> socket.socket:
        self.connections.append(address)
        if address[0] != STAND_IN_PUBLIC:
            raise ConnectionRefusedError(f"test network: {address[0]} is out of bounds")
        return socket.create_connection(address, timeout=timeout)

    def policy(self, **overrides) -> object:
        settings = {
            "resolve": self.resolve,
            "connect": self.connect,
            "is_allowed_address": lambda ip: str(ip) == STAND_IN_PUBLIC or is_public_address(ip),
        }
        return dataclasses.replace(DEFAULT_POLICY, **{**settings, **overrides})


NAMES = {
    "images.example": [STAND_IN_PUBLIC],
    "public.example": [PUBLIC_EXAMPLE],
    "localhost": ["127.0.0.1", "::1"],
    "metadata.example": ["169.254.169.254"],
    "intranet.example": ["10.0.0.1"],
    "mixed.example": [PUBLIC_EXAMPLE, "192.168.1.10"],  # one private answer is enough to refuse
    "v6private.example": ["fd00::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
}


@pytest.fixture
def network() -> Network:
    return Network(NAMES)


# --- address classification --------------------------------------------------------------------------------

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "169.254.169.254",
    "169.254.0.1",
    "100.64.0.1",
    "100.127.255.255",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.170",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.7",
    "203.0.113.9",
    "192.88.99.1",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "2001:db8::1",
    "100::1",
    "2001::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:10.0.0.1",  # IPv4-mapped
    "::127.0.0.1",
    "::8.8.8.8",  # IPv4-compatible (deprecated)
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::1",  # NAT64
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::1",
    "2002:c0a8:101::1",  # 6to4 of loopback, metadata, private
    "3fff::1",
    "5f00::1",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "2606:4700:4700::1111",
    "2a00:1450:4001::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert is_public_address(ipaddress.ip_address(address))


# --- URL checks (no connection is ever attempted) -----------------------------------------------------------

REFUSED_URLS = {
    # scheme
    "file:///etc/passwd": "scheme file:",
    "gopher://images.example/1": "scheme gopher:",
    "ftp://images.example/a.jpg": "scheme ftp:",
    "dict://127.0.0.1:11211/": "scheme dict:",
    "//images.example/a.jpg": "scheme (none)",
    "javascript:alert(1)": "scheme javascript:",
    # credentials
    "http://user:secret@images.example/a.jpg": "credentials",
    "http://images.example@169.254.169.254/": "credentials",
    # ports
    "http://images.example:22/": "port 22",
    "http://images.example:6379/": "port 6379",
    "http://images.example:0/": "port 0",
    # literal addresses
    "http://127.0.0.1/": "127.0.0.1 is not a public address",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/": "169.254.169.254 is not a public",
    "http://10.0.0.1/": "10.0.0.1 is not a public",
    "http://100.64.1.1/": "100.64.1.1 is not a public",
    "http://0.0.0.0/": "0.0.0.0 is not a public",
    "http://224.0.0.251/": "224.0.0.251 is not a public",
    "http://127.0.0.1.:80/": "127.0.0.1 is not a public",
    # alternative IPv4 spellings
    "http://2130706433/": "'2130706433' (= 127.0.0.1)",
    "http://0x7f000001/": "(= 127.0.0.1)",
    "http://0x7f.1/": "'0x7f.1' (= 127.0.0.1)",
    "http://0177.0.0.1/": "'0177.0.0.1' (= 127.0.0.1)",
    "http://127.1/": "'127.1' (= 127.0.0.1)",
    "http://0xA9.0xFE.0xA9.0xFE/": "(= 169.254.169.254)",
    "http://2852039166/": "(= 169.254.169.254)",
    "http://012.0.0.1/": "(= 10.0.0.1)",
    "http://0/": "(= 0.0.0.0)",
    "http://1.2.3.4.5/": "invalid numeric host",
    "http://0x1ffffffff/": "invalid numeric host",
    "http://09.0.0.1/": "invalid numeric host",
    # IPv6 forms
    "http://[::1]/": "::1 is not a public",
    "http://[::]/": ":: is not a public",
    "http://[::ffff:127.0.0.1]/": "::ffff:7f00:1 is not a public",
    "http://[::ffff:a9fe:a9fe]/": "is not a public",
    "http://[::127.0.0.1]/": "is not a public",
    "http://[64:ff9b::169.254.169.254]/": "is not a public",
    "http://[2002:a9fe:a9fe::]/": "is not a public",
    "http://[fe80::1%25eth0]/": "zone identifiers",
    "http://[fd00:ec2::254]/": "is not a public",  # the IPv6 metadata endpoint
    "http://[fc00::1]:443/": "is not a public",
    # names that resolve to non-public addresses
    "http://localhost/": "'localhost' resolves to a non-public address",
    "http://LOCALHOST./": "'localhost' resolves to a non-public address",
    "http://metadata.example/latest/": "resolves to a non-public address",
    "http://intranet.example/": "resolves to a non-public address",
    "http://mixed.example/": "resolves to a non-public address",
    "http://v6private.example/": "resolves to a non-public address",
    "http://mapped.example/": "resolves to a non-public address",
    # malformed
    "http:///a.jpg": "no host",
    "http://[::1/": "malformed url",
    "http://images.example/a b.jpg": "whitespace or control",
    "http://images.example/\r\nX-Injected: 1": "whitespace or control",
    "http://exa_mple..com/": "invalid host name",
    "http://127.0.0.1\\@images.example/": "credentials",
    "": "non-empty string",
}


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_unsafe_urls_are_refused_before_connecting(url, network):
    with pytest.raises(UnsafeURLError) as raised:
        fetch(url, network.policy())
    assert REFUSED_URLS[url] in str(raised.value)
    assert raised.value.status == 400
    assert isinstance(raised.value, InferenceInputError) and isinstance(raised.value, ValueError)
    assert network.connections == []


def test_literal_addresses_never_reach_the_resolver(network):
    for url in ("http://2130706433/", "http://[::1]/", "http://169.254.169.254/"):
        with pytest.raises(UnsafeURLError):
            check_url(url, network.policy())
    assert network.lookups == []


def test_resolved_addresses_are_not_echoed_to_the_client(network):
    with pytest.raises(UnsafeURLError) as raised:
        check_url("http://intranet.example/", network.policy())
    assert "10.0.0.1" not in str(raised.value)


def test_a_public_name_is_pinned_to_the_address_it_was_checked_at(network):
    target = check_url("https://public.example/cats/1.jpg?size=large#frag", network.policy())
    assert (target.scheme, target.host, target.port) == ("https", "public.example", 443)
    assert target.path == "/cats/1.jpg?size=large"
    assert target.addresses == (PUBLIC_EXAMPLE,)


def test_unicode_host_names_are_idna_encoded(network):
    target = check_url(
        "http://bücher.example/x",
        network.policy(resolve=lambda host, port: [PUBLIC_EXAMPLE] if host == "xn--bcher-kva.example" else []),
    )
    assert target.host == "xn--bcher-kva.example"


def test_any_port_when_the_policy_allows_it(network):
    target = check_url("http://public.example:8443/a.jpg", network.policy(allowed_ports=None))
    assert target.port == 8443


def test_unresolvable_host_is_a_fetch_error(network):
    with pytest.raises(FetchError, match="could not resolve host 'nowhere.example'") as raised:
        fetch("http://nowhere.example/a.jpg", network.policy())
    assert raised.value.status == 400


def test_a_connection_failure_is_a_clean_fetch_error(network):
    with pytest.raises(FetchError, match="could not connect to 'public.example'"):
        fetch("http://public.example/a.jpg", network.policy())
    assert network.connections == [(PUBLIC_EXAMPLE, 80)]  # the checked address, nothing else


# --- against a real HTTP server on loopback -----------------------------------------------------------------


class ImageHost(http.server.BaseHTTPRequestHandler):
    """Routes: /img.png, redirects to forbidden places, oversized and stalling bodies."""

    requests: list[tuple[str, str]] = []
    release = threading.Event()

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).requests.append((self.path, self.headers.get("Host", "")))
        port = self.server.server_address[1]
        redirects = {
            "/to-metadata": "http://169.254.169.254/latest/meta-data/",
            "/to-private": "http://10.0.0.1/admin",
            "/to-localhost": f"http://localhost:{port}/img.png",
            "/to-decimal-loopback": "http://2130706433/",
            "/to-ipv6-loopback": f"http://[::1]:{port}/img.png",
            "/to-private-name": "http://intranet.example/",
            "/to-file": "file:///etc/passwd",
            "/relative": "/img.png",
            "/loop": "/loop",
        }
        if self.path in redirects:
            self.send_response(302)
            self.send_header("Location", redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/img.png":
            self._send(IMAGE_BYTES)
        elif self.path == "/declared-too-big":
            self.send_response(200)
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
        elif self.path == "/streamed-too-big":
            self.send_response(200)
            self.end_headers()  # no Content-Length: the body runs until the connection closes
            try:
                for _ in range(64):
                    self.wfile.write(b"x" * 1024)
            except OSError:
                pass  # the client hung up at its limit
            self.close_connection = True
        elif self.path == "/stall":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"x")
            self.wfile.flush()
            type(self).release.wait(10)
        elif self.path in ("/drip-headers", "/drip-body"):
            # Each byte comes well within the read timeout, the whole never within the total timeout.
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            if self.path == "/drip-body":
                self.wfile.write(b"Content-Length: 100000\r\n\r\n")
            try:
                for _ in range(400):
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    if type(self).release.wait(0.05):
                        break
            except OSError:
                pass  # the client cut the connection
            self.close_connection = True
        elif self.path == "/missing":
            self.send_error(404)
        else:
            self.send_error(500)

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def image_host():
    server = http.server.ThreadingHTTPServer((STAND_IN_PUBLIC, 0), ImageHost)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        ImageHost.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def host_policy(network, image_host):
    ImageHost.requests.clear()
    return network.policy(allowed_ports=frozenset({80, 443, image_host}))


def test_fetch_returns_the_body_and_keeps_the_host_name(host_policy, network, image_host):
    body = fetch(f"http://images.example:{image_host}/img.png", host_policy)
    assert body == IMAGE_BYTES
    assert network.connections == [(STAND_IN_PUBLIC, image_host)]
    assert ImageHost.requests == [("/img.png", f"images.example:{image_host}")]


def test_relative_redirects_are_followed(host_policy, image_host):
    assert fetch(f"http://images.example:{image_host}/relative", host_policy) == IMAGE_BYTES
    assert [path for path, _host in ImageHost.requests] == ["/relative", "/img.png"]


@pytest.mark.parametrize(
    "path, message",
    [
        ("/to-metadata", "169.254.169.254 is not a public address"),
        ("/to-private", "10.0.0.1 is not a public address"),
        ("/to-localhost", "'localhost' resolves to a non-public address"),
        ("/to-decimal-loopback", "(= 127.0.0.1)"),
        ("/to-ipv6-loopback", "::1 is not a public address"),
        ("/to-private-name", "'intranet.example' resolves to a non-public address"),
        ("/to-file", "scheme file:"),
    ],
)
def test_redirects_to_forbidden_places_are_refused_before_connecting(path, message, host_policy, network, image_host):
    with pytest.raises(UnsafeURLError) as raised:
        fetch(f"http://images.example:{image_host}{path}", host_policy)
    assert message in str(raised.value)
    assert raised.value.status == 400
    # Only the first hop (the stand-in public host) was ever connected to.
    assert network.connections == [(STAND_IN_PUBLIC, image_host)]
    assert [request_path for request_path, _host in ImageHost.requests] == [path]


def test_redirect_loops_stop_at_the_limit(host_policy, image_host):
    with pytest.raises(FetchError, match="redirected more than 3 times"):
        fetch(f"http://images.example:{image_host}/loop", host_policy)
    assert len(ImageHost.requests) == 4  # the first request and 3 redirects


def test_dns_is_resolved_once_per_hop_so_rebinding_cannot_redirect_the_connection(network, image_host):
    answers = iter([[STAND_IN_PUBLIC], ["10.0.0.1"], ["10.0.0.1"]])  # a rebinding DNS server
    policy = network.policy(allowed_ports=frozenset({image_host}), resolve=lambda host, port: next(answers))
    assert fetch(f"http://rebind.example:{image_host}/img.png", policy) == IMAGE_BYTES
    assert network.connections == [(STAND_IN_PUBLIC, image_host)]


def test_a_declared_oversized_body_is_refused_without_reading_it(host_policy, image_host):
    with pytest.raises(FetchError, match="larger than 1024 bytes") as raised:
        fetch(f"http://images.example:{image_host}/declared-too-big", dataclasses.replace(host_policy, max_bytes=1024))
    assert raised.value.status == 413


def test_a_streamed_body_is_cut_at_the_byte_limit(host_policy, image_host):
    with pytest.raises(FetchError, match="larger than 4096 bytes") as raised:
        fetch(f"http://images.example:{image_host}/streamed-too-big", dataclasses.replace(host_policy, max_bytes=4096))
    assert raised.value.status == 413


def test_a_stalled_server_hits_the_read_timeout(host_policy, image_host):
    with pytest.raises(FetchError, match="did not answer within 0.3 s"):
        fetch(f"http://images.example:{image_host}/stall", dataclasses.replace(host_policy, read_timeout_s=0.3))


@pytest.mark.parametrize("path", ["/drip-headers", "/drip-body"])
def test_a_dripping_server_is_cut_at_the_total_timeout(host_policy, image_host, path):
    policy = dataclasses.replace(host_policy, read_timeout_s=5.0, total_timeout_s=0.5)
    with pytest.raises(FetchError, match="took longer than 0.5 s") as raised:
        fetch(f"http://images.example:{image_host}{path}", policy)
    assert raised.value.status == 400


def test_http_errors_are_fetch_errors(host_policy, image_host):
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(f"http://images.example:{image_host}/missing", host_policy)


def _self_signed_certificate(directory, host: str) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


def test_https_with_an_untrusted_certificate_is_refused(tmp_path, network):
    import ssl

    server = http.server.ThreadingHTTPServer((STAND_IN_PUBLIC, 0), ImageHost)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed_certificate(tmp_path, "images.example"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        with pytest.raises(FetchError, match="TLS certificate of 'images.example' is not valid") as raised:
            fetch(f"https://images.example:{port}/img.png", network.policy(allowed_ports=frozenset({port})))
        assert "self-signed certificate" in str(raised.value)
        assert network.connections == [(STAND_IN_PUBLIC, port)]
    finally:
        server.shutdown()
        server.server_close()
