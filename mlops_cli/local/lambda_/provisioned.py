"""Provisioned concurrency in the local AWS: the configs (per function and qualifier) that are stored and journaled,
their allocation, and the account's unreserved concurrency they draw on.

A config is IN_PROGRESS while the function's init really runs, then READY with as many warm environments as it
asks for, or FAILED with the init error as its StatusReason; moving an alias re-allocates, as on AWS. The account
limit is 1000 concurrent executions, with 100 kept unreserved.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_cli.local.core.server import LocalRequest, ServerContext
from mlops_cli.local.lambda_.concurrency import Environment
from mlops_cli.local.lambda_.function_runner import INIT_LIMIT_S, FunctionRunner, lambda_time, log_stream_name
from mlops_cli.local.moto_compat.records.lambda_ import Functions, LambdaFunction, functions

ACCOUNT_CONCURRENCY = 1000
MIN_UNRESERVED = 100


@dataclass
class Provisioned:
    """One provisioned concurrency config (function + qualifier) and its allocation."""

    function_arn: str
    requested: int
    version: str  # the version it was allocated for (an alias may move)
    status: str = "IN_PROGRESS"
    reason: str = ""
    allocated: int = 0
    last_modified: str = field(default_factory=lambda: lambda_time())
    generation: int = 0

    def shape(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": self.requested,
            "AvailableProvisionedConcurrentExecutions": self.allocated,
            "AllocatedProvisionedConcurrentExecutions": self.allocated,
            "Status": self.status,
            "LastModified": self.last_modified,
        }
        if self.reason:
            data["StatusReason"] = self.reason
        return data


class ProvisionedConcurrency:
    """The provisioned concurrency configs, by (account, region, function, qualifier); `lock` guards them."""

    def __init__(self, context: ServerContext, runner: FunctionRunner):
        self.context = context
        self.runner = runner
        self.provisioned: dict[tuple[str, str, str, str], Provisioned] = {}
        self.lock = threading.Lock()
        context.store.participant("lambda.provisioned", self.saved, self.restore_provisioned)
        context.store.on_resume(self.resume_allocations)

    def saved(self) -> dict[tuple[str, str, str, str], dict[str, Any]]:
        """The configs as plain data: the durable state names no class of ours, so moving one breaks no state."""
        return {key: asdict(config) for key, config in self.provisioned.items()}

    def save(self) -> None:
        """Journal the provisioned concurrency configs (called with self.lock held, after each change)."""
        self.context.store.record("lambda.provisioned", self.saved())

    def restore_provisioned(self, configs: dict[tuple[str, str, str, str], dict[str, Any]]) -> None:
        self.provisioned.clear()
        # Plain dicts; state written before they were holds the objects themselves.
        for key, config in configs.items():
            self.provisioned[key] = config if isinstance(config, Provisioned) else Provisioned(**config)

    def resume_allocations(self) -> None:
        """After a restart: allocations that were under way start again; READY ones stay READY and get their warm
        environments back (their processes went with the server)."""
        with self.lock:
            for key, config in list(self.provisioned.items()):
                account, region, name, _ = key
                version = functions(account, region).get_function(name, config.version)
                if config.status == "IN_PROGRESS":
                    self.start_allocation(key, config, version)
                elif config.status == "READY":
                    self.keep_warm(key, version)

    def unreserved(self, backend: Functions, excluding: str | None = None) -> int:
        """The account's unreserved concurrency: what reservations and unreserved provisioning leave."""
        used = 0
        for fn in backend.list_functions():
            if fn.function_name == excluding:
                continue
            if fn.reserved_concurrency is not None:
                used += int(fn.reserved_concurrency)
            else:
                used += sum(config.requested for key, config in self.provisioned.items() if key[2] == fn.function_name)
        return ACCOUNT_CONCURRENCY - used

    def key(self, request: LocalRequest, fn: LambdaFunction, qualifier: str) -> tuple[str, str, str, str]:
        return (request.account, request.region, fn.function_name, qualifier)

    def resolve(self, backend: Functions, name: str, qualifier: str) -> tuple[LambdaFunction, str]:
        """(the function's $LATEST, the version the qualifier means); raises KeyError/ValueError."""
        latest = backend.get_function(name)
        if qualifier.isdigit():
            backend.get_function(latest.function_name, qualifier)
            return latest, qualifier
        version = backend.get_alias(qualifier, latest.function_name).function_version
        return latest, str(version)

    def prune(self, request: LocalRequest, backend: Functions) -> None:
        """Forget configs of deleted functions, versions or aliases (AWS deletes them with their target)."""
        for key in list(self.provisioned):
            if key[:2] != (request.account, request.region):
                continue
            try:
                self.resolve(backend, key[2], key[3])
            except Exception:
                self.release_warm(key, self.provisioned.pop(key).version)
                self.save()

    def allocate(self, key: tuple[str, str, str, str], config: Provisioned, fn: LambdaFunction) -> None:
        """Run the version's init once, as provisioning does, then start the environments it keeps warm: READY
        once they wait initialised, FAILED with the init error."""
        generation = config.generation
        request_id = str(uuid.uuid4())
        log_stream = log_stream_name(fn)
        document, logs, _, _ = self.runner.run(fn, "init", b"", request_id, config.function_arn, log_stream)
        self.runner.write_logs(fn, log_stream, logs.splitlines())
        error = document.get("init_error") or document.get("error")
        with self.lock:
            if self.provisioned.get(key) is not config or config.generation != generation:
                return  # replaced or deleted meanwhile
            if error:
                config.status, config.allocated = "FAILED", 0
                config.reason = (f"FUNCTION_ERROR_INIT_FAILURE: {error.get('errorType')}: {error.get('errorMessage')}")[
                    :1000
                ]
                self.save()
                return
            version_key = self.keep_warm(key, fn)
        self.runner.warm.wait_ready(version_key, INIT_LIMIT_S * 2)
        with self.lock:
            if self.provisioned.get(key) is config and config.generation == generation:
                config.status, config.allocated, config.reason = "READY", config.requested, ""
            self.save()

    def keep_warm(self, key: tuple[str, str, str, str], fn: LambdaFunction) -> tuple[str, str, str, str]:
        """As many warm environments of the version as its provisioned configs ask for (called under lock)."""
        version_key = (key[0], key[1], key[2], str(fn.version))

        def environment() -> Environment:
            return self.runner.start(fn, "invoke", log_stream_name(fn))

        self.runner.warm.provision(version_key, self.provisioned_total(key, str(fn.version)), environment)
        return version_key

    def provisioned_total(self, key: tuple[str, str, str, str], version: str) -> int:
        return sum(
            c.requested
            for k, c in self.provisioned.items()
            if k[:3] == key[:3] and c.version == version and c.status != "FAILED"
        )

    def release_warm(self, key: tuple[str, str, str, str], version: str) -> None:
        """The version lost (some of) its provisioned concurrency (called under lock)."""
        self.runner.warm.provision((key[0], key[1], key[2], version), self.provisioned_total(key, version))

    def start_allocation(self, key: tuple[str, str, str, str], config: Provisioned, version_fn: LambdaFunction) -> None:
        config.generation += 1
        config.status, config.allocated, config.reason = "IN_PROGRESS", 0, ""
        self.save()
        threading.Thread(target=self.allocate, args=(key, config, version_fn), daemon=True).start()
