"""Endpoint URL rules: the embedded local AWS on loopback over http, anything else only over https."""

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


def check_endpoint_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"'{url}' is not an http(s) URL")
    if parts.username or parts.password:
        raise ValueError("endpoint_url must not carry credentials")
    if parts.scheme == "http" and not is_loopback_url(url):
        raise ValueError("plain http is allowed only for a loopback endpoint (the embedded local AWS); use https")
    return url.rstrip("/")
