"""The S3 calls the local AWS answers itself (moto answers the rest)."""

from __future__ import annotations

from mlops_cli.local.core.server import Hooks, ServerContext
from mlops_cli.local.s3.checksums import verify_sha256


def register(hooks: Hooks, context: ServerContext) -> None:
    hooks.route("PUT", r"^/[^/]+/.+", verify_sha256, service="s3")
