"""The project's generated SageMaker roles: one for training jobs, one for endpoints (least privilege each).

Training reads code, data and checkpoints and writes its outputs and checkpoints; an endpoint only reads the
model artifacts it serves. `train` and `deploy` converge the role they use before the call that names it
(CreateRole when absent, else the trust policy is updated; the inline policy is always rewritten to what
mlops_cli.services.iam_policies generates and `audit-iam` checks), and retry that call while a new role
propagates (mlops_cli.services.propagation).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.plan import Step, run_step
from mlops_cli.services import naming

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

PRINCIPAL = "sagemaker.amazonaws.com"


@dataclass(frozen=True)
class SageMakerRole:
    name: Callable[[Config], str]
    policy_name: str
    policy: Callable[[Config, str, str], dict[str, Any]]
    serves: str  # for the role's description


def training_role() -> SageMakerRole:
    from mlops_cli.services.iam_policies import sagemaker_execution_policy

    return SageMakerRole(
        naming.sagemaker_role_name, "mlops-sagemaker-execution", sagemaker_execution_policy, "SageMaker training jobs"
    )


def endpoint_role() -> SageMakerRole:
    from mlops_cli.services.iam_policies import sagemaker_endpoint_policy

    return SageMakerRole(
        naming.sagemaker_endpoint_role_name,
        "mlops-sagemaker-endpoint",
        sagemaker_endpoint_policy,
        "SageMaker endpoints",
    )


def role_steps(role: SageMakerRole, config: Config, *, account_id: str, partition: str) -> list[Step]:
    """CreateRole (only when absent; else UpdateAssumeRolePolicy with the same trust policy) and PutRolePolicy."""
    from mlops_cli.services.iam_policies import assume_role_policy

    name = role.name(config)
    return [
        Step(
            "iam",
            "CreateRole",
            {
                "RoleName": name,
                "AssumeRolePolicyDocument": json.dumps(assume_role_policy(PRINCIPAL, account_id)),
                "Description": f"mlops: {role.serves} of {config.project}",
                "Tags": naming.tags(config),
            },
            "only if the role does not exist (else UpdateAssumeRolePolicy with this trust policy)",
        ),
        Step(
            "iam",
            "PutRolePolicy",
            {
                "RoleName": name,
                "PolicyName": role.policy_name,
                "PolicyDocument": json.dumps(role.policy(config, account_id, partition)),
            },
        ),
    ]


def ensure_role(steps: list[Step], iam: Any) -> None:
    """Run `role_steps`: create the role or update its trust policy, then put the inline policy."""
    from mlops_cli.aws import error_code

    create, put_policy = steps
    try:
        iam.get_role(RoleName=create.params["RoleName"])
        iam.update_assume_role_policy(
            RoleName=create.params["RoleName"], PolicyDocument=create.params["AssumeRolePolicyDocument"]
        )
    except Exception as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        run_step(create, lambda _service: iam)
    run_step(put_policy, lambda _service: iam)
