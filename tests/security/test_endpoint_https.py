"""One https rule for every way an endpoint is named: plain http only to loopback, whatever names the URL.

The CLI runs in a child process whose audit hook ends it (exit 99) at its first name lookup or connection, so
"refused before any connection" is checked, not inferred from timing. The non-loopback address is TEST-NET-1
(192.0.2.1, RFC 5737), which reaches nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NO_CONNECTIONS = """
import os, runpy, sys
def refuse(event, args):
    if event in ("socket.getaddrinfo", "socket.connect"):
        address = args[:2] if event == "socket.getaddrinfo" else args[1]
        sys.stderr.write(f"connection attempted to {tuple(address)}\\n"); sys.stderr.flush(); os._exit(99)
sys.addaudithook(refuse)
sys.argv = ["mlops", *sys.argv[1:]]
runpy.run_module("mlops_cli", run_name="__main__")
"""


def mlops_offline(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "MLOPS_AWS__"))}
    full = {
        **clean,
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "example",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", NO_CONNECTIONS, *args], env=full, capture_output=True, text=True, timeout=120
    )


def assert_refused(result: subprocess.CompletedProcess, where: str) -> None:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {where}: http://192.0.2.1"), result.stderr
    assert "plain http is allowed only for a loopback endpoint" in lines[0]


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER"])
def test_service_endpoint_variable_over_http_is_refused(variable):
    assert_refused(mlops_offline("status", env={variable: "http://192.0.2.1"}), f"env {variable}")


def test_global_endpoint_variable_over_http_is_refused():
    result = mlops_offline("status", env={"AWS_ENDPOINT_URL": "http://192.0.2.1:4566"})
    assert result.returncode == 2 and "env AWS_ENDPOINT_URL: aws.endpoint_url: plain http" in result.stderr


def write_profiles(tmp_path: Path) -> Path:
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile global]\nendpoint_url = http://192.0.2.1\n\n"
        "[profile per-service]\nservices = lab\n\n"
        "[services lab]\ns3 =\n  endpoint_url = https://192.0.2.1\n"
        "sagemaker =\n  endpoint_url = http://192.0.2.1:8080\n\n"
        "[profile loopback]\nendpoint_url = http://127.0.0.1:9\n"
        "aws_access_key_id = AKIAEXAMPLEEXAMPLE00\naws_secret_access_key = example\n"
    )
    return config


def test_profile_endpoint_url_over_http_is_refused(tmp_path: Path):
    config = write_profiles(tmp_path)
    result = mlops_offline("status", env={"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "global"})
    assert_refused(result, f"profile 'global' in {config}")


def test_profile_services_section_over_http_is_refused(tmp_path: Path):
    config = write_profiles(tmp_path)
    result = mlops_offline("--profile", "per-service", "status", env={"AWS_CONFIG_FILE": str(config)})
    assert_refused(result, f"services 'lab' (sagemaker) of profile 'per-service' in {config}")


def test_plain_http_to_loopback_is_allowed(tmp_path: Path):
    """The rule lets a loopback endpoint through: the CLI goes on to connect (and the hook stops it)."""
    config = write_profiles(tmp_path)
    result = mlops_offline("status", env={"AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "loopback"})
    assert result.returncode == 99 and "connection attempted to ('127.0.0.1', 9)" in result.stderr, result.stderr
