"""The project's generated SageMaker roles: one for training jobs, one for endpoints, one for batch transform
(least privilege each).

Training reads code, data and checkpoints and writes its outputs and checkpoints; an endpoint only reads the
model artifacts it serves; a batch transform also reads its inputs and writes predictions. `train`, `deploy` and
`predict-batch` converge the role they use before the call that names it (CreateRole when absent, else the trust
policy is updated; the inline policy is always rewritten to what mlops_cli.services.iam.policies generates and
`audit-iam` checks), and retry that call while a new role propagates (mlops_cli.services.iam.propagation).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.plan import Step
from mlops_cli.plan.steps import Instead
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
    from mlops_cli.services.iam.policies import sagemaker_execution_policy

    return SageMakerRole(
        naming.sagemaker_role_name, "mlops-sagemaker-execution", sagemaker_execution_policy, "SageMaker training jobs"
    )


def endpoint_role() -> SageMakerRole:
    from mlops_cli.services.iam.policies import sagemaker_endpoint_policy

    return SageMakerRole(
        naming.sagemaker_endpoint_role_name,
        "mlops-sagemaker-endpoint",
        sagemaker_endpoint_policy,
        "SageMaker endpoints",
    )


def batch_role() -> SageMakerRole:
    from mlops_cli.services.iam.policies import sagemaker_batch_policy

    return SageMakerRole(
        naming.sagemaker_batch_role_name, "mlops-sagemaker-batch", sagemaker_batch_policy, "SageMaker batch transform"
    )


def role_steps(role: SageMakerRole, config: Config, *, account_id: str, partition: str) -> list[Step]:
    """CreateRole (when the role exists already: UpdateAssumeRolePolicy with the same trust policy instead), then
    PutRolePolicy: the role ends with exactly the trust and the inline policy the project generates."""
    from mlops_cli.services.iam.policies import assume_role_policy

    name = role.name(config)
    trust = json.dumps(assume_role_policy(PRINCIPAL, account_id))
    return [
        Step(
            "iam",
            "CreateRole",
            {
                "RoleName": name,
                "AssumeRolePolicyDocument": trust,
                "Description": f"mlops: {role.serves} of {config.project}",
                "Tags": naming.tags(config),
            },
            "trusts only SageMaker, for this account",
            instead=Instead(
                "EntityAlreadyExists",
                Step("iam", "UpdateAssumeRolePolicy", {"RoleName": name, "PolicyDocument": trust}),
            ),
        ),
        Step(
            "iam",
            "PutRolePolicy",
            {
                "RoleName": name,
                "PolicyName": role.policy_name,
                "PolicyDocument": json.dumps(role.policy(config, account_id, partition)),
            },
            "least privilege, as audit-iam checks it",
        ),
    ]
