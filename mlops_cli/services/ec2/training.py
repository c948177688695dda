"""`mlops train-ec2`: the model package trained on one EC2 instance that cleans up after itself; this module
launches it.

The launch is a plan (see `build_plan`): the code tarball into S3, an instance role `<project>-ec2-train`
(ec2_roles.py) that can read the code and data prefixes and write only this job's prefix under `models/`, and one
`RunInstances` of the newest AWS Deep Learning AMI (ec2_images.py) with a user-data bootstrap. The bootstrap
(`user_data`, the template bootstrap.sh) fetches code and data with the AWS CLI, runs `python -m
model.train_ec2`, uploads `models/<job>/output/model.tar.gz`, and, whatever happened, writes
`models/<job>/status.json` (and the log) from an EXIT trap before `shutdown -h now`; the instance is launched with
`InstanceInitiatedShutdownBehavior=terminate`, so nothing keeps running or billing. A shutdown scheduled first at
train.ec2.max_run_s is the hard cap: a hung job still ends there, and the plan's cost is bounded by it. The CLI
follows a job by reading that status object and the instance state (ec2_follow.py); `--local` runs the same entry
point here (ec2_local.py).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import UsageError
from mlops_cli.plan import Answers, Plan, Ref
from mlops_cli.services import naming
from mlops_cli.services.ec2.images import dlami_query, pick_image, root_volume
from mlops_cli.services.ec2.job import LOG_FILE, STATUS_FILE, Ec2Job, hyperparameter_args
from mlops_cli.services.ec2.roles import role_steps

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config
    from mlops_cli.services.training.packaging import SourcePackage

# The first line after the shebang: the embedded local AWS recognises the project's bootstrap by it.
BOOTSTRAP_MARKER = "# mlops train-ec2 bootstrap"
BOOTSTRAP_TEMPLATE = "bootstrap.sh"  # package data beside this module
DEFAULT_WORKDIR = "/opt/ml-ec2"
USER_DATA_LIMIT = 16 * 1024  # EC2's limit on raw user data
PROFILE_PROPAGATION_S = 60.0  # a new instance profile can take this long before RunInstances accepts it


def user_data(job: Ec2Job) -> str:
    """The bootstrap script (bootstrap.sh with its @@NAME@@ slots filled): plain bash, every value
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
        "MAX_RUN_S": str(job.max_run_s),
        "MAX_RUN_MINUTES": str(job.max_run_minutes),
        "REGION": shlex.quote(job.region),
        "DEFAULT_WORKDIR": DEFAULT_WORKDIR,
        "LOG_FILE": LOG_FILE,
        "STATUS_FILE": STATUS_FILE,
    }
    template = (files("mlops_cli.services.ec2") / BOOTSTRAP_TEMPLATE).read_text()
    script = re.sub(r"@@([A-Z_]+)@@", lambda slot: values[slot.group(1)], template)
    if len(script.encode()) > USER_DATA_LIMIT:
        raise UsageError(
            f"the bootstrap script is {len(script.encode())} bytes, over EC2's {USER_DATA_LIMIT}-byte "
            "user-data limit; use fewer or shorter hyperparameters"
        )
    return script


def run_instances_request(config: Config, job: Ec2Job, image: Any) -> dict[str, Any]:
    """One instance, the DLAMI (`image`: a Ref to the newest image DescribeImages found), the instance profile,
    IMDSv2 only, terminate on shutdown, tagged with the job."""
    ec2 = config.train.ec2
    job_tags = naming.tags(config, job=job.name)
    request: dict[str, Any] = {
        "ImageId": Ref("image", "ImageId", placeholder="<newest image from DescribeImages>", pick=image, what="newest"),
        "InstanceType": job.instance_type,
        "MinCount": 1,
        "MaxCount": 1,
        "IamInstanceProfile": {"Name": naming.ec2_role_name(config)},
        "InstanceInitiatedShutdownBehavior": "terminate",
        "UserData": user_data(job),
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
        "BlockDeviceMappings": [
            Ref(
                "image",
                placeholder=root_volume(None, ec2.volume_gb),
                pick=lambda answer: root_volume(image(answer), ec2.volume_gb),
                what="root volume",
            )
        ],
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


def build_plan(config: Config, job: Ec2Job, package: SourcePackage, partition: str, stale: list[str]) -> Plan:
    """Every request of a launch, in order: the AMI lookup (before anything is written), the code, the role,
    the policies of ended jobs (`stale`) removed, the instance."""
    from mlops_cli.plan import Retry
    from mlops_cli.services.iam.propagation import ec2_profile_unknown
    from mlops_cli.services.training.packaging import upload_step

    ami_id = config.train.ec2.ami_id
    plan = Plan(f"train-ec2 {job.name}")
    plan.add(
        "ec2",
        "DescribeImages",
        {"ImageIds": [ami_id]} if ami_id else dlami_query(job.instance_type),
        "the configured AMI" if ami_id else "the newest match by CreationDate is the ImageId",
        name="image",
    )
    plan.steps.append(upload_step(package, job.code_uri.rsplit("/", 1)[0]))
    plan.steps.extend(role_steps(config, job, partition))
    for name in stale:
        plan.add(
            "iam",
            "DeleteRolePolicy",
            {"RoleName": naming.ec2_role_name(config), "PolicyName": name},
            "the write access of a job that has ended",
            ok_on=("NoSuchEntity",),
        )
    plan.add(
        "ec2",
        "RunInstances",
        run_instances_request(config, job, lambda answer: pick_image(answer, job.instance_type, ami_id)),
        name="instance",
        retry=Retry(ec2_profile_unknown, PROFILE_PROPAGATION_S, "the new instance profile is not visible to EC2 yet"),
    )
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


def launched(config: Config, job: Ec2Job, answers: Answers, removed_policies: list[str]) -> Launch:
    """The launch the answers of `build_plan`'s plan describe: the image picked and the instance started."""
    image = pick_image(answers["image"], job.instance_type, config.train.ec2.ami_id)
    instance = answers["instance"]["Instances"][0]
    return Launch(
        job,
        instance["InstanceId"],
        image["ImageId"],
        image.get("Name", ""),
        answers.get("upload") is not None,
        removed_policies,
    )
