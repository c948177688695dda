"""`mlops train-ec2`: the model package trained on one EC2 instance that cleans up after itself; this module
launches it.

The launch is a plan (see `build_plan`): the code tarball into S3, an instance role `<project>-ec2-train`
(ec2_roles.py) that can read the code and data prefixes and write only this job's prefix under `models/`, and one
`RunInstances` of the newest AWS Deep Learning AMI (ec2_images.py) with a user-data bootstrap. The bootstrap
(`user_data`, the template ec2_bootstrap.sh) fetches code and data with the AWS CLI, runs `python -m
model.train_ec2`, uploads `models/<job>/output/model.tar.gz`, and, whatever happened, writes
`models/<job>/status.json` (and the log) from an EXIT trap before `shutdown -h now`; the instance is launched with
`InstanceInitiatedShutdownBehavior=terminate`, so nothing keeps running or billing. The CLI follows a job by
reading that status object and the instance state (ec2_follow.py); `--local` runs the same entry point here
(ec2_local.py).
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.aws import error_code
from mlops_cli.errors import UsageError
from mlops_cli.plan import Plan, Step, run_step
from mlops_cli.services import naming
from mlops_cli.services.ec2_images import dlami_query, find_image, root_volume
from mlops_cli.services.ec2_job import LOG_FILE, STATUS_FILE, Ec2Job, hyperparameter_args
from mlops_cli.services.ec2_roles import remove_job_policy, role_steps, stale_job_policies

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config
    from mlops_cli.services.packaging import SourcePackage

# The first line after the shebang: the embedded local AWS recognises the project's bootstrap by it.
BOOTSTRAP_MARKER = "# mlops train-ec2 bootstrap"
BOOTSTRAP_TEMPLATE = "ec2_bootstrap.sh"  # package data beside this module
DEFAULT_WORKDIR = "/opt/ml-ec2"
USER_DATA_LIMIT = 16 * 1024  # EC2's limit on raw user data
PROFILE_PROPAGATION_S = 60.0  # a new instance profile can take this long before RunInstances accepts it


def user_data(job: Ec2Job) -> str:
    """The bootstrap script (ec2_bootstrap.sh with its @@NAME@@ slots filled): plain bash, every value
    shell-quoted, one text for AWS and the local AWS."""
    from importlib.resources import files

    values = {
        "MARKER": BOOTSTRAP_MARKER,
        "JOB": job.name,
        "JOB_Q": shlex.quote(job.name),
        "STATUS_URI": job.status_uri,
        "CODE_URI": shlex.quote(job.code_uri),
        "DATA_URI": shlex.quote(job.data_uri),
        "JOB_URI": shlex.quote(job.job_uri),
        "HYPERPARAMETERS": " ".join(shlex.quote(arg) for arg in hyperparameter_args(job.hyperparameters)),
        "REGION": shlex.quote(job.region),
        "DEFAULT_WORKDIR": DEFAULT_WORKDIR,
        "LOG_FILE": LOG_FILE,
        "STATUS_FILE": STATUS_FILE,
    }
    template = (files("mlops_cli.services") / BOOTSTRAP_TEMPLATE).read_text()
    script = re.sub(r"@@([A-Z_]+)@@", lambda slot: values[slot.group(1)], template)
    if len(script.encode()) > USER_DATA_LIMIT:
        raise UsageError(
            f"the bootstrap script is {len(script.encode())} bytes, over EC2's {USER_DATA_LIMIT}-byte "
            "user-data limit; use fewer or shorter hyperparameters"
        )
    return script


def run_instances_request(config: Config, job: Ec2Job, image: dict[str, Any] | None) -> dict[str, Any]:
    """One instance, the DLAMI, the instance profile, IMDSv2 only, terminate on shutdown, tagged with the job."""
    ec2 = config.train.ec2
    job_tags = naming.tags(config, job=job.name)
    request: dict[str, Any] = {
        "ImageId": image["ImageId"] if image else "<newest image from DescribeImages>",
        "InstanceType": job.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "IamInstanceProfile": {"Name": naming.ec2_role_name(config)},
        "UserData": user_data(job),
        "InstanceInitiatedShutdownBehavior": "terminate",
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
        "BlockDeviceMappings": [root_volume(image, ec2.volume_gb)],
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": job.name}, *job_tags]},
            {"ResourceType": "volume", "Tags": job_tags},
        ],
        "ClientToken": job.name,  # a retried launch of the same job never starts a second instance
    }
    if ec2.subnet_id:
        request["SubnetId"] = ec2.subnet_id
    if ec2.security_group_ids:
        request["SecurityGroupIds"] = list(ec2.security_group_ids)
    if ec2.key_name:
        request["KeyName"] = ec2.key_name
    return request


def build_plan(
    config: Config, job: Ec2Job, package: SourcePackage, partition: str, image: dict[str, Any] | None = None
) -> Plan:
    """Every request of a launch, in order. Without `image` the AMI is shown as the lookup that will pick it."""
    from mlops_cli.services.packaging import split_s3_uri

    plan = Plan(f"train-ec2 {job.name}")
    bucket, key = split_s3_uri(job.code_uri)
    plan.add(
        "s3",
        "PutObject",
        {
            "Bucket": bucket,
            "Key": key,
            "ContentType": "application/gzip",
            "Metadata": {"sha256": package.sha256},
            "Body": f"<sourcedir.tar.gz: {len(package.data)} bytes, {len(package.files)} files>",
        },
        "skipped when an object with this hash-derived key is already there",
    )
    for service, operation, params, note in role_steps(config, job, partition):
        plan.add(service, operation, params, note)
    plan.add(
        "iam",
        "ListRolePolicies",
        {"RoleName": naming.ec2_role_name(config)},
        "then DeleteRolePolicy for the job-* policies of jobs that have ended",
    )
    if image is None:
        plan.add(
            "ec2",
            "DescribeImages",
            dlami_query(job.instance_type) if not config.train.ec2.ami_id else {"ImageIds": [config.train.ec2.ami_id]},
            "the newest match by CreationDate is the ImageId",
        )
    plan.add("ec2", "RunInstances", run_instances_request(config, job, image))
    return plan


@dataclass
class Launch:
    job: Ec2Job
    instance_id: str
    image_id: str
    image_name: str
    code_uploaded: bool
    removed_policies: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_name": self.job.name,
            "instance_id": self.instance_id,
            "instance_type": self.job.instance_type,
            "image_id": self.image_id,
            "image_name": self.image_name,
            "code_uri": self.job.code_uri,
            "code_uploaded": self.code_uploaded,
            "data_uri": self.job.data_uri,
            "model_artifact": self.job.model_artifact,
            "status_uri": self.job.status_uri,
            "log_uri": self.job.log_uri,
            "removed_stale_policies": self.removed_policies,
        }


def _ensure_role(iam: Any, config: Config, job: Ec2Job, partition: str) -> bool:
    """Create what is missing, (re)write the inline policies; True when the instance profile is new."""
    role = naming.ec2_role_name(config)
    steps = [Step(*step) for step in role_steps(config, job, partition)]
    create_role, put_read, put_job, create_profile, add_role = steps

    def client(_service: str) -> Any:  # every step here is IAM
        return iam

    try:
        iam.get_role(RoleName=role)
    except Exception as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        run_step(create_role, client)
    run_step(put_read, client)
    run_step(put_job, client)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=role)["InstanceProfile"]
        created = False
    except Exception as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
        profile = run_step(create_profile, client)["InstanceProfile"]
        created = True
    if role not in [item["RoleName"] for item in profile.get("Roles", [])]:
        run_step(add_role, client)
        created = True
    return created


def _run_instance(
    ec2: Any, request: dict[str, Any], profile_is_new: bool, sleep: Callable[[float], None]
) -> dict[str, Any]:
    """RunInstances, retried while a just-created instance profile is not yet visible to EC2."""
    from mlops_cli.services.propagation import ec2_profile_unknown, retry_while_propagating

    return retry_while_propagating(
        lambda: ec2.run_instances(**request)["Instances"][0],
        ec2_profile_unknown,
        wait_s=PROFILE_PROPAGATION_S if profile_is_new else 0,
        sleep=sleep,
    )


def launch(
    client_for: Callable[[str], Any],
    config: Config,
    job: Ec2Job,
    package: SourcePackage,
    partition: str,
    sleep: Callable[[float], None] = time.sleep,
) -> Launch:
    """Run the plan: upload code if changed, converge the role, prune ended jobs' policies, start the instance."""
    from mlops_cli.services.packaging import upload_source

    s3, iam, ec2 = client_for("s3"), client_for("iam"), client_for("ec2")
    image = find_image(ec2, job.instance_type, config.train.ec2.ami_id)  # before writing anything
    upload = upload_source(s3, package, job.code_uri.rsplit("/", 1)[0])
    profile_is_new = _ensure_role(iam, config, job, partition)
    removed = stale_job_policies(iam, ec2, s3, config, keep=job.policy_name)
    for name in removed:
        remove_job_policy(iam, config, name)
    try:
        instance = _run_instance(ec2, run_instances_request(config, job, image), profile_is_new, sleep)
    except Exception:
        remove_job_policy(iam, config, job.policy_name)  # nothing will use it
        raise
    return Launch(job, instance["InstanceId"], image["ImageId"], image.get("Name", ""), upload.uploaded, removed)
