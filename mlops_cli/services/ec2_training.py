"""`mlops train-ec2`: the model package trained on one EC2 instance that cleans up after itself.

The launch is a plan (see `build_plan`): the code tarball into S3, an instance role `<project>-ec2-train` that can
read the code and data prefixes and write only this job's prefix under `models/`, and one `RunInstances` of the
newest AWS Deep Learning AMI with a user-data bootstrap. The bootstrap (`user_data`) fetches code and data with
the AWS CLI, runs `python -m model.train_ec2`, uploads `models/<job>/output/model.tar.gz`, and, whatever happened,
writes `models/<job>/status.json` (and the log) from an EXIT trap before `shutdown -h now`; the instance is
launched with `InstanceInitiatedShutdownBehavior=terminate`, so nothing keeps running or billing. The CLI follows
a job by reading that status object and the instance state (`follow`).

Write access is per job: each launch puts an inline policy `job-<job>` on the role granting `s3:PutObject` on
that job's prefix only, and deletes the policies of jobs that have ended (`stale_job_policies`).
"""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import OperationError, UsageError
from mlops_cli.plan import Plan, Step, run_step
from mlops_cli.services import naming

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config
    from mlops_cli.services.packaging import SourcePackage

# The first line after the shebang: the embedded local AWS recognises the project's bootstrap by it.
BOOTSTRAP_MARKER = "# mlops train-ec2 bootstrap"
BOOTSTRAP_TEMPLATE = "ec2_bootstrap.sh"  # package data beside this module
DEFAULT_WORKDIR = "/opt/ml-ec2"
STATUS_FILE = "status.json"
LOG_FILE = "bootstrap.log"
USER_DATA_LIMIT = 16 * 1024  # EC2's limit on raw user data
JOB_POLICY_PREFIX = "job-"
READ_POLICY_NAME = "read-code-and-data"

# Only images owned by Amazon: a name filter alone would also match anyone's public look-alike AMI.
DLAMI_OWNER = "amazon"
# Both run on CPU and GPU instance types and ship PyTorch in /opt/pytorch (older ones: conda env `pytorch`) and the
# AWS CLI. The Base DLAMIs are left out on purpose: they have no PyTorch for the entry point.
DLAMI_NAME_PATTERNS = {
    "x86_64": ["Deep Learning OSS Nvidia Driver AMI GPU PyTorch *", "Deep Learning AMI GPU PyTorch *"],
    "arm64": ["Deep Learning ARM64 AMI OSS Nvidia Driver GPU PyTorch *"],
}
# The instance types the PyTorch DLAMIs document ("Supported EC2 instances" in the AWS Deep Learning AMI release notes
# of "Deep Learning OSS Nvidia Driver AMI GPU PyTorch" and its ARM64 twin): GPU families only.
DLAMI_FAMILIES = {
    "x86_64": ("g4dn", "g5", "g6", "g6e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en"),
    "arm64": ("g5g",),
}
ENDED_STATES = ("shutting-down", "terminated", "stopping", "stopped")
LIVE_STATES = ("pending", "running", "stopping", "stopped")  # not terminated: still billed (a stopped one: its volume)
PROFILE_PROPAGATION_S = 60.0  # a new instance profile can take this long before RunInstances accepts it


@dataclass(frozen=True)
class Ec2Job:
    """Where one EC2 training job reads and writes; everything is derived from the config and the job name."""

    name: str
    region: str
    instance_type: str
    code_uri: str  # the sourcedir tarball
    data_uri: str
    job_uri: str  # <models>/<job>: output/model.tar.gz, status.json, bootstrap.log
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    @property
    def model_artifact(self) -> str:
        return f"{self.job_uri}/output/model.tar.gz"

    @property
    def status_uri(self) -> str:
        return f"{self.job_uri}/{STATUS_FILE}"

    @property
    def log_uri(self) -> str:
        return f"{self.job_uri}/{LOG_FILE}"

    @property
    def policy_name(self) -> str:
        return f"{JOB_POLICY_PREFIX}{self.name}"


def hyperparameter_args(hyperparameters: dict[str, Any]) -> list[str]:
    """`--name value` pairs; booleans as true/false (what the entry point parses)."""
    args: list[str] = []
    for name, value in hyperparameters.items():
        args += [f"--{name}", str(value).lower() if isinstance(value, bool) else str(value)]
    return args


def new_job(config: Config, name: str, code_uri: str) -> Ec2Job:
    from mlops_cli.services.training import check_job_name, user_hyperparameters

    return Ec2Job(
        name=check_job_name(name),
        region=config.aws.region,
        instance_type=config.train.ec2.instance_type,
        code_uri=code_uri,
        data_uri=naming.data_uri(config),
        job_uri=f"{naming.output_uri(config)}/{name}",
        hyperparameters=user_hyperparameters(config),
    )


def _error_code(exc: BaseException) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


# --- the Deep Learning AMI -------------------------------------------------------------------------------------


def architecture(instance_type: str) -> str:
    """`arm64` for Graviton families (a `g` after the generation: m7g, c6gn, t4g, g5g; and a1), else `x86_64`."""
    found = re.match(r"^([a-z-]+?)(\d+)([a-z-]*)\.", instance_type)
    if instance_type.startswith("a1.") or (found and "g" in found.group(3)):
        return "arm64"
    return "x86_64"


def dlami_query(instance_type: str) -> dict[str, Any]:
    """The DescribeImages request that finds the candidate Deep Learning AMIs for this instance type."""
    arch = architecture(instance_type)
    return {
        "Owners": [DLAMI_OWNER],
        "Filters": [
            {"Name": "name", "Values": DLAMI_NAME_PATTERNS[arch]},
            {"Name": "architecture", "Values": [arch]},
            {"Name": "state", "Values": ["available"]},
        ],
    }


def newest_image(images: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The image with the latest CreationDate (ISO 8601 strings sort chronologically)."""
    return max(images, key=lambda image: image.get("CreationDate", ""), default=None)


def unsupported_type_warning(instance_type: str, ami_id: str | None) -> str | None:
    """A warning when the looked-up DLAMI does not document `instance_type` (it boots, but unsupported)."""
    families = DLAMI_FAMILIES[architecture(instance_type)]
    if ami_id or instance_type.split(".")[0] in families:
        return None
    return (
        f"{instance_type} is not among the instance types the PyTorch Deep Learning AMI supports "
        f"({', '.join(families)}); choose one of those, or set train.ec2.ami_id to an AMI made for it"
    )


def find_image(ec2: Any, instance_type: str, ami_id: str | None = None) -> dict[str, Any]:
    """The configured AMI, or the newest Amazon-owned PyTorch DLAMI for the instance type's architecture."""
    if ami_id:
        try:
            images = ec2.describe_images(ImageIds=[ami_id]).get("Images", [])
        except Exception as exc:
            if not _error_code(exc).startswith("InvalidAMIID"):
                raise
            images = []
        if not images:
            raise UsageError(f"train.ec2.ami_id '{ami_id}' was not found in this region")
        return images[0]
    query = dlami_query(instance_type)
    image = newest_image(ec2.describe_images(**query).get("Images", []))
    if image is None:
        patterns = " or ".join(f"'{pattern}'" for pattern in query["Filters"][0]["Values"])
        raise UsageError(
            f"no Deep Learning AMI for {architecture(instance_type)} ({instance_type}) found: no available image "
            f"owned by {DLAMI_OWNER} is named {patterns}",
            hint="set train.ec2.ami_id to an AMI with PyTorch and the AWS CLI, or choose another --instance-type",
        )
    return image


def root_volume(image: dict[str, Any] | None, volume_gb: int) -> dict[str, Any]:
    """The root device mapping: encrypted gp3, deleted with the instance, at least as big as the AMI's snapshot."""
    device = "<RootDeviceName of the AMI>"
    size = volume_gb
    if image is not None:
        device = image.get("RootDeviceName", "/dev/sda1")
        for mapping in image.get("BlockDeviceMappings", []):
            if mapping.get("DeviceName") == device:
                size = max(size, int(mapping.get("Ebs", {}).get("VolumeSize") or 0))
    return {
        "DeviceName": device,
        "Ebs": {"VolumeSize": size, "VolumeType": "gp3", "DeleteOnTermination": True, "Encrypted": True},
    }


# --- IAM: the instance role ------------------------------------------------------------------------------------


def role_steps(config: Config, job: Ec2Job, partition: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(service, operation, params, note) for the role and instance profile; creation steps run only if missing."""
    from mlops_cli.services.iam_policies import assume_role_policy, ec2_job_policy, ec2_read_policy

    role = naming.ec2_role_name(config)
    trust = json.dumps(assume_role_policy("ec2.amazonaws.com"))
    return [
        (
            "iam",
            "CreateRole",
            {
                "RoleName": role,
                "AssumeRolePolicyDocument": trust,
                "Description": f"mlops train-ec2 instances of {config.project}",
                "Tags": naming.tags(config),
            },
            "only if the role does not exist",
        ),
        (
            "iam",
            "PutRolePolicy",
            {
                "RoleName": role,
                "PolicyName": READ_POLICY_NAME,
                "PolicyDocument": json.dumps(ec2_read_policy(config, partition)),
            },
            "",
        ),
        (
            "iam",
            "PutRolePolicy",
            {
                "RoleName": role,
                "PolicyName": job.policy_name,
                "PolicyDocument": json.dumps(ec2_job_policy(job.job_uri, partition)),
            },
            "write access for this job only; removed once the job has ended",
        ),
        (
            "iam",
            "CreateInstanceProfile",
            {"InstanceProfileName": role, "Tags": naming.tags(config)},
            "only if the instance profile does not exist",
        ),
        (
            "iam",
            "AddRoleToInstanceProfile",
            {"InstanceProfileName": role, "RoleName": role},
            "only if the role is not in the profile yet",
        ),
    ]


# --- the bootstrap ---------------------------------------------------------------------------------------------


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


# --- RunInstances ----------------------------------------------------------------------------------------------


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


# --- launching -------------------------------------------------------------------------------------------------


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
        if _error_code(exc) != "NoSuchEntity":
            raise
        run_step(create_role, client)
    run_step(put_read, client)
    run_step(put_job, client)
    try:
        profile = iam.get_instance_profile(InstanceProfileName=role)["InstanceProfile"]
        created = False
    except Exception as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise
        profile = run_step(create_profile, client)["InstanceProfile"]
        created = True
    if role not in [item["RoleName"] for item in profile.get("Roles", [])]:
        run_step(add_role, client)
        created = True
    return created


def read_status(s3: Any, status_uri: str) -> dict[str, Any] | None:
    """The job's status object, or None while it does not exist yet."""
    from mlops_cli.services.packaging import split_s3_uri

    bucket, key = split_s3_uri(status_uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:
        if _error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return {"status": "Failed", "reason": f"{status_uri} is not valid JSON"}


def stale_job_policies(iam: Any, ec2: Any, s3: Any, config: Config, keep: str) -> list[str]:
    """`job-*` policies of jobs that have ended: their status object exists or their instance is gone.

    A policy with neither sign may belong to a launch in progress elsewhere, so it stays.
    """
    role = naming.ec2_role_name(config)
    names = [
        name
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=role)
        for name in page["PolicyNames"]
        if name.startswith(JOB_POLICY_PREFIX) and name != keep
    ]
    if not names:
        return []
    ended_jobs = {tags[naming.JOB_TAG] for _, tags in _job_instances(ec2, config, ENDED_STATES)}
    stale = []
    for name in names:
        job_name = name[len(JOB_POLICY_PREFIX) :]
        if job_name in ended_jobs or read_status(s3, f"{naming.output_uri(config)}/{job_name}/{STATUS_FILE}"):
            stale.append(name)
    return stale


def _job_instances(ec2: Any, config: Config, states: tuple[str, ...]) -> Iterator[tuple[dict[str, Any], dict]]:
    """(instance, its tags as a dict) of the project's train-ec2 instances (tagged with a job) in one of `states`."""
    filters = [
        {"Name": f"tag:{naming.PROJECT_TAG}", "Values": [config.project]},
        {"Name": "tag-key", "Values": [naming.JOB_TAG]},
        {"Name": "instance-state-name", "Values": list(states)},
    ]
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                yield instance, {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}


def live_instances(ec2: Any, config: Config) -> list[dict[str, Any]]:
    """The project's train-ec2 instances that are not terminated (a stopped one still bills for its volume)."""
    return [
        {
            "instance_id": instance["InstanceId"],
            "job": tags[naming.JOB_TAG],
            "state": instance["State"]["Name"],
            "instance_type": instance.get("InstanceType"),
            "launched": instance.get("LaunchTime"),
        }
        for instance, tags in _job_instances(ec2, config, LIVE_STATES)
    ]


def remove_job_policy(iam: Any, config: Config, policy_name: str) -> None:
    try:
        iam.delete_role_policy(RoleName=naming.ec2_role_name(config), PolicyName=policy_name)
    except Exception as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise


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


# --- following a job -------------------------------------------------------------------------------------------


def instance_state(ec2: Any, instance_id: str) -> tuple[str, str]:
    """(state name, state reason message); ("pending", "") while EC2 does not list a brand-new instance yet."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except Exception as exc:
        if _error_code(exc) == "InvalidInstanceID.NotFound":
            return "pending", ""
        raise
    instance = reservations[0]["Instances"][0]
    return instance["State"]["Name"], instance.get("StateReason", {}).get("Message", "")


def follow(
    ec2: Any,
    s3: Any,
    job: Ec2Job,
    instance_id: str,
    *,
    poll_s: float,
    on_state: Callable[[str], None] = lambda state: None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Wait for the job's status object; an instance that ended without one is a failure too."""
    last_state = ""
    ended_polls = 0
    while True:
        status = read_status(s3, job.status_uri)
        if status is not None:
            return status
        state, reason = instance_state(ec2, instance_id)
        if state != last_state:
            on_state(state)
            last_state = state
        if state in ENDED_STATES:
            ended_polls += 1
            if ended_polls > 1:  # the status is written before shutdown: one more look, then give up
                detail = f" ({reason})" if reason else ""
                return {
                    "job_name": job.name,
                    "status": "Failed",
                    "model_artifact": None,
                    "log_tail": [],
                    "reason": f"instance {instance_id} is {state}{detail} and the bootstrap recorded no "
                    f"status at {job.status_uri}; see `aws ec2 get-console-output --instance-id "
                    f"{instance_id}`",
                }
        sleep(poll_s)


def stop_hint(instance_id: str) -> str:
    return f"aws ec2 terminate-instances --instance-ids {instance_id}"


# --- --local: the entry point on this machine ------------------------------------------------------------------


def check_data_dir(data_dir: Path) -> None:
    if not (data_dir / "train").is_dir():
        raise UsageError(
            f"data folder '{data_dir}' has no train/ split",
            hint="pass --data-dir, or write the sample set with `mlops data sample`",
        )


def local_command(job: Ec2Job, data_dir: Path, out_dir: Path) -> list[str]:
    """The same entry point and arguments the bootstrap runs, with this machine's Python."""
    import sys

    return [
        sys.executable,
        "-m",
        "model.train_ec2",
        "--data-dir",
        str(data_dir),
        "--model-dir",
        str(out_dir / "model"),
        "--checkpoint-dir",
        str(out_dir / "checkpoints"),
        *hyperparameter_args(job.hyperparameters),
    ]


def run_local(argv: list[str], on_line: Callable[[str], None]) -> tuple[int, list[str]]:
    """Run the entry point from the source checkout, passing each output line on; (exit code, last lines)."""
    import collections
    import subprocess

    from mlops_cli.services.packaging import package_dir

    tail: collections.deque[str] = collections.deque(maxlen=20)
    process = subprocess.Popen(
        argv,
        cwd=package_dir().parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        bufsize=1,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            on_line(line)
            if line.strip():
                tail.append(line)
        return process.wait(), list(tail)
    except KeyboardInterrupt:
        process.terminate()
        process.wait()
        raise


def pack_model_dir(model_dir: Path, tar_path: Path) -> None:
    """`model.tar.gz` with the model dir's contents at the top (what SageMaker and the bootstrap produce)."""
    import tarfile

    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        raise OperationError(f"the entry point left no model in '{model_dir}'")
    partial = tar_path.with_name(tar_path.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        for path in sorted(model_dir.rglob("*")):
            if "__pycache__" not in path.parts:
                tar.add(path, arcname=path.relative_to(model_dir).as_posix(), recursive=False)
    partial.replace(tar_path)


def upload_artifact(s3: Any, tar_path: Path, uri: str) -> None:
    from mlops_cli.services.packaging import split_s3_uri

    bucket, key = split_s3_uri(uri)
    s3.upload_file(str(tar_path), bucket, key, ExtraArgs={"ContentType": "application/gzip"})
