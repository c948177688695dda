"""Per-invocation state set by the global options: config files, AWS overrides, output mode, dry-run."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
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
    files_read: list[str] = field(default_factory=list)  # set with `.config`: config_files and what they include

    def override(self, values: dict[str, Any], flags: dict[str, str] | None = None) -> None:
        """Command flags, highest precedence; call before first use of `.config`. Keys use '.' for nesting.

        `flags` maps a key to the flag that set it when their names differ (e.g. lambda.function_name: --name),
        so a validation error names what the user typed.
        """
        self.flag_overrides.update(values)
        self.flag_names.update(flags or {})
        for derived in ("config", "config_values", "clients"):
            self.__dict__.pop(derived, None)

    @cached_property
    def config(self) -> Config:
        from mlops_cli.config import load_config

        overrides = {"aws.profile": self.profile, "aws.region": self.region, **self.flag_overrides}
        flag_names = {"aws.profile": "--profile", "aws.region": "--region", **self.flag_names}
        read: list[str] = []
        config = load_config(self.config_files, overrides=overrides, flag_names=flag_names, read=read)
        self.files_read = read
        return config

    @cached_property
    def config_values(self) -> dict[str, Any]:
        """`config.as_plain()`, remembered across runs (mlops_cli.config.cache): for commands that only read values."""
        from mlops_cli.config import load_config_values

        if "config" in self.__dict__:
            return self.config.as_plain()
        overrides = {"aws.profile": self.profile, "aws.region": self.region, **self.flag_overrides}
        flag_names = {"aws.profile": "--profile", "aws.region": "--region", **self.flag_names}
        values, self.files_read = load_config_values(self.config_files, overrides, flag_names)
        return values

    @cached_property
    def home(self) -> Path:
        """Where the local AWS and this machine's records live: $MLOPS_HOME, else the project's .mlops/."""
        from mlops_cli.config.project import mlops_home

        return mlops_home()

    @cached_property
    def clients(self) -> AwsClients:
        """From the config, or from its plain values when the command read only those (no pydantic then)."""
        from mlops_cli.aws import AwsClients, AwsTarget

        if "config" not in self.__dict__ and "config_values" in self.__dict__:
            return AwsClients(AwsTarget(**self.config_values["aws"]), dry_run=self.dry_run, home=self.home)
        return AwsClients(self.config.aws, dry_run=self.dry_run, home=self.home)
