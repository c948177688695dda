"""Endpoint URL rules: the embedded local AWS on loopback over http, anything else only over https, wherever the
URL is named (the config, AWS_ENDPOINT_URL*, a profile in the AWS config file)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_cli.local.core.urls import endpoint_url_problem, is_loopback_url  # noqa: F401 (is_loopback_url: re-exported)


def check_endpoint_url(url: str) -> str:
    problem = endpoint_url_problem(url)
    if problem:
        raise ValueError(problem)
    return url.rstrip("/")


def configured_endpoint_urls(botocore_session: Any, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """(where, url) of every endpoint URL botocore would take from the environment or the profile when a client
    is made without one: AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>, the profile's `endpoint_url` and its
    `services` section. None when the user told botocore to ignore them."""
    if str(botocore_session.get_config_variable("ignore_configured_endpoint_urls")).lower() == "true":
        return []
    found = [
        (f"env {name}", value)
        for name, value in sorted(environ.items())
        if (name == "AWS_ENDPOINT_URL" or name.startswith("AWS_ENDPOINT_URL_")) and value
    ]
    profile = botocore_session.profile or "default"
    config_file = botocore_session.get_config_variable("config_file")
    scoped = botocore_session.get_scoped_config()
    if scoped.get("endpoint_url"):
        found.append((f"profile '{profile}' in {config_file}", scoped["endpoint_url"]))
    section = scoped.get("services")
    services = botocore_session.full_config.get("services", {}).get(section, {}) if section else {}
    for service, settings in sorted(services.items()):
        if isinstance(settings, dict) and settings.get("endpoint_url"):
            found.append(
                (f"services '{section}' ({service}) of profile '{profile}' in {config_file}", settings["endpoint_url"])
            )
    return found
