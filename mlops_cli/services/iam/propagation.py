"""Retrying a call while a new IAM role (or instance profile) propagates.

IAM is eventually consistent: for a few seconds after a role is created or its trust policy changes, the
service that must assume it refuses it (SageMaker: ValidationException "Could not assume role ...";
Lambda: InvalidParameterValueException "The role defined for the function cannot be assumed by Lambda.";
EC2: InvalidParameterValue on `iamInstanceProfile`). IAM User Guide, Troubleshooting IAM, "Changes that I
make are not always immediately visible". A plan step that uses a role it created carries
`Retry(<one of the matches below>, ROLE_PROPAGATION_S)`: the executor retries it while the match holds.
"""

from __future__ import annotations

from mlops_cli.aws import ErrorMatch

ROLE_PROPAGATION_S = 90.0

sagemaker_cannot_assume = ErrorMatch("ValidationException", "assume role")
lambda_cannot_assume = ErrorMatch("InvalidParameterValueException", "role")
ec2_profile_unknown = ErrorMatch("InvalidParameterValue", "iamInstanceProfile")
