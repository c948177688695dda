"""The instance role of `mlops train-ec2`: read access to code and data, and write access per job (an inline policy
`job-<job>` on that job's prefix only, deleted once the job has ended)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlops_cli.aws import absent_on, error_code
from mlops_cli.plan import Step, sends, sends_via, sent_by
from mlops_cli.services import naming
from mlops_cli.services.ec2.follow import ENDED_STATES, job_instances, read_status
from mlops_cli.services.ec2.job import JOB_POLICY_PREFIX, STATUS_FILE

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config
    from mlops_cli.services.ec2.job import Ec2Job

READ_POLICY_NAME = "read-code-and-data"


def role_steps(config: Config, job: Ec2Job, partition: str) -> list[Step]:
    """The role and its instance profile: created when missing (EntityAlreadyExists: there already), the
    inline policies always rewritten, the role added to the profile when it is not in it."""
    from mlops_cli.plan import Unless
    from mlops_cli.services.iam.policies import assume_role_policy, ec2_job_policy, ec2_read_policy

    role = naming.ec2_role_name(config)
    trust = json.dumps(assume_role_policy("ec2.amazonaws.com"))
    exists = ("EntityAlreadyExists",)
    return [
        Step(
            "iam",
            "CreateRole",
            {
                "RoleName": role,
                "AssumeRolePolicyDocument": trust,
                "Description": f"mlops train-ec2 instances of {config.project}",
                "Tags": naming.tags(config),
            },
            "kept when it exists",
            ok_on=exists,
        ),
        Step(
            "iam",
            "PutRolePolicy",
            {
                "RoleName": role,
                "PolicyName": READ_POLICY_NAME,
                "PolicyDocument": json.dumps(ec2_read_policy(config, partition)),
            },
        ),
        Step(
            "iam",
            "PutRolePolicy",
            {
                "RoleName": role,
                "PolicyName": job.policy_name,
                "PolicyDocument": json.dumps(ec2_job_policy(job.job_uri, partition)),
            },
            "write access for this job only; removed once the job has ended",
            action="create",
        ),
        Step(
            "iam",
            "CreateInstanceProfile",
            {"InstanceProfileName": role, "Tags": naming.tags(config)},
            "kept when it exists",
            ok_on=exists,
        ),
        Step(
            "iam",
            "AddRoleToInstanceProfile",
            {"InstanceProfileName": role, "RoleName": role},
            unless=Unless(
                lambda client_for: _in_profile(client_for("iam"), role),
                "the role is in the profile",
                sends=sent_by(_in_profile),
            ),
        ),
    ]


@sends("iam", "GetInstanceProfile")
def _in_profile(iam: Any, role: str) -> bool:
    profile = absent_on(("NoSuchEntity",), lambda: iam.get_instance_profile(InstanceProfileName=role))
    return profile is not None and role in [item["RoleName"] for item in profile["InstanceProfile"].get("Roles", [])]


@sends("iam", "ListRolePolicies")
@sends_via(job_instances, read_status)
def stale_job_policies(iam: Any, ec2: Any, s3: Any, config: Config, keep: str) -> list[str]:
    """`job-*` policies of jobs that have ended: their status object exists or their instance is gone.

    A policy with neither sign may belong to a launch in progress elsewhere, so it stays.
    """
    role = naming.ec2_role_name(config)
    pages = absent_on(("NoSuchEntity",), lambda: list(iam.get_paginator("list_role_policies").paginate(RoleName=role)))
    names = [
        name
        for page in pages or []
        for name in page["PolicyNames"]
        if name.startswith(JOB_POLICY_PREFIX) and name != keep
    ]
    if not names:
        return []
    ended_jobs = {tags[naming.JOB_TAG] for _, tags in job_instances(ec2, config, ENDED_STATES)}
    stale = []
    for name in names:
        job_name = name[len(JOB_POLICY_PREFIX) :]
        if job_name in ended_jobs or read_status(s3, f"{naming.output_uri(config)}/{job_name}/{STATUS_FILE}"):
            stale.append(name)
    return stale


@sends("iam", "DeleteRolePolicy")
def remove_job_policy(iam: Any, config: Config, policy_name: str) -> None:
    try:
        iam.delete_role_policy(RoleName=naming.ec2_role_name(config), PolicyName=policy_name)
    except Exception as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
