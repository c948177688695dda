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

    def override(self, **dotted: Any) -> None:
        """Command flags, highest precedence; call before first use of `.config`. Keys use '.' for nesting."""
        self.flag_overrides.update({key.replace("__", "."): value for key, value in dotted.items()})
        self.__dict__.pop("config", None)
        self.__dict__.pop("clients", None)

    @cached_property
    def config(self) -> "Config":
        from mlops_cli.config import load_config

        overrides = {"aws.profile": self.profile, "aws.region": self.region, **self.flag_overrides}
        return load_config(self.config_files, overrides=overrides)

    @cached_property
    def clients(self) -> "AwsClients":
        from mlops_cli.aws import AwsClients

        return AwsClients(self.config.aws)
