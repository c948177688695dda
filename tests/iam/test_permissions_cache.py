"""`config permissions` derives once per version of the code, the config and botocore, then reads what it found."""

from __future__ import annotations

from mlops_cli.config import load_config
from mlops_cli.usecases import permissions as derivation
from mlops_cli.usecases.permissions_cache import cached
from tests.helpers import LOCAL_CONFIG


def test_the_derivation_is_kept_and_a_config_change_derives_again(tmp_path, monkeypatch):
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path))
    calls = []

    def derive(config, chosen):
        calls.append(chosen)
        return derivation.operations(config, chosen)

    config = load_config([str(LOCAL_CONFIG)])
    first = cached(config, ["status"], derive)
    assert cached(config, ["status"], derive) == first and len(calls) == 1
    assert first == derivation.operations(config, ["status"])
    other = load_config([str(LOCAL_CONFIG)], env={"MLOPS_PROJECT": "another"})
    cached(other, ["status"], derive)
    assert len(calls) == 2
    assert len(list((tmp_path / "cache").glob("permissions-*.json"))) == 1  # the newest only
