"""Where the local AWS may listen (loopback addresses only), and the one rule for every endpoint URL: plain http
only to loopback, anything else over https (the CLI's config and environment, and the environments of the
processes the local AWS runs)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_url_problem(url: str) -> str | None:
    """What is wrong with `url` as an AWS endpoint, or None when it is fine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"'{url}' is not an http(s) URL"
    if parts.username or parts.password:
        return "endpoint_url must not carry credentials"
    if parts.scheme == "http" and not is_loopback_url(url):
        return "plain http is allowed only for a loopback endpoint (the embedded local AWS); use https"
    return None
