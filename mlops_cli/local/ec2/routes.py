"""The EC2 calls the local AWS answers itself (moto answers the rest)."""

from __future__ import annotations

from mlops_cli.local.core.server import Hooks, ServerContext
from mlops_cli.local.ec2.instances import Instances, add_local_dlami, shut_down


def register(hooks: Hooks, context: ServerContext) -> None:
    instances = Instances(context)
    context.on_shutdown(instances.bootstraps.kill_all)
    context.store.register("ec2.local-dlami", add_local_dlami)
    context.store.register("ec2.shutdown", shut_down)
    hooks.operation("ec2", "DescribeImages", instances.describe_images)
    hooks.operation("ec2", "RunInstances", instances.run_instances)
    hooks.operation("ec2", "TerminateInstances", instances.stop_instances)
    hooks.operation("ec2", "StopInstances", instances.stop_instances)
