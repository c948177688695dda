"""Per-invocation state set by the global options: config files, AWS overrides, output mode, dry-run."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from mlops_cli.render import Output

if TYPE_CHECKING:
    from mlops_cli.aws import AwsClients
    from mlops_cli.config.schema import Config


@dataclass
class AppState:
    config_files: list[str] = field(default_factory=list)
    profile: str | None = None
    region: str | None = None
    dry_run: bool = False
    out: Output = field(default_factory=Output)
    flag_overrides: dict[str, Any] = field(default_factory=dict)
    flag_names: dict[str, str] = field(default_factory=dict)

    def override(self, values: dict[str, Any], flags: dict[str, str] | None = None) -> None:
        """Command flags, highest precedence; call before first use of `.config`. Keys use '.' for nesting.

        `flags` maps a key to the flag that set it when their names differ (e.g. lambda.function_name: --name),
        so a validation error names what the user typed.
        """
        self.flag_overrides.update(values)
        self.flag_names.update(flags or {})
        self.__dict__.pop("config", None)
        self.__dict__.pop("config_values", None)
        self.__dict__.pop("clients", None)

    def _layers(self) -> dict[str, Any]:
        overrides = {"aws.profile": self.profile, "aws.region": self.region, **self.flag_overrides}
        flag_names = {"aws.profile": "--profile", "aws.region": "--region", **self.flag_names}
        return {"files": self.config_files, "overrides": overrides, "flag_names": flag_names}

    @cached_property
    def config(self) -> Config:
        from mlops_cli.config import load_config

        return load_config(**self._layers())

    @cached_property
    def config_values(self) -> dict[str, Any]:
        """The validated config as plain data (`config.as_plain()`), remembered across runs: what a command
        that only reads values uses, so it pays for neither pydantic nor YAML when nothing changed."""
        from mlops_cli.config import load_config_values

        return load_config_values(**self._layers())

    @cached_property
    def clients(self) -> AwsClients:
        from mlops_cli.aws import AwsClients

        return AwsClients(self.config.aws, dry_run=self.dry_run)
