"""The EC2 instance role: read the code and data prefixes, write this job's prefix, nothing else.

The documents are checked exactly, then evaluated with a small IAM matcher (Allow statements, `*`/`?` wildcards in
actions and resources, StringLike/StringEquals conditions; everything else is an implicit deny).
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import pytest

from mlops_cli.services.ec2 import images as ec2_images
from mlops_cli.services.ec2 import job as ec2_job
from mlops_cli.services.ec2 import roles as ec2_roles
from mlops_cli.services.iam import policies as iam_policies

JOB = "digits-ec2-20250101-000000"
BUCKET = "arn:aws:s3:::mlops-local"


def _wildcard(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    regex = fnmatch.translate(pattern)  # IAM wildcards: * any run, ? one character (no [] classes in IAM)
    return re.match(regex, value, 0 if case_sensitive else re.IGNORECASE) is not None


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def allowed(documents: list[dict], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    context = context or {}
    for document in documents:
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
            if not any(_wildcard(p, action, case_sensitive=False) for p in _as_list(statement["Action"])):
                continue
            if not any(_wildcard(p, resource) for p in _as_list(statement["Resource"])):
                continue
            conditions_met = True
            for operator, keys in statement.get("Condition", {}).items():
                for key, patterns in keys.items():
                    if key not in context:
                        conditions_met = False
                    elif operator == "StringLike":
                        conditions_met &= any(_wildcard(p, context[key]) for p in _as_list(patterns))
                    elif operator == "StringEquals":
                        conditions_met &= context[key] in _as_list(patterns)
                    else:
                        raise AssertionError(f"matcher does not know {operator}")
            if conditions_met:
                return True
    return False


@pytest.fixture(scope="module")
def documents(local_config) -> list[dict]:
    job = ec2_job.new_job(local_config, JOB, "s3://mlops-local/digits/code/sourcedir-0123456789ab.tar.gz")
    return [iam_policies.ec2_read_policy(local_config), iam_policies.ec2_job_policy(job.job_uri)]


def test_policy_documents_are_exact(documents):
    read, write = documents
    assert read == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadCodeAndData",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"{BUCKET}/digits/code/*", f"{BUCKET}/digits/data/*"],
            },
            {
                "Sid": "ListData",
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": BUCKET,
                "Condition": {"StringLike": {"s3:prefix": ["digits/data/*"]}},
            },
        ],
    }
    assert write == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteJobOutput",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"{BUCKET}/digits/models/{JOB}/*",
            },
        ],
    }


@pytest.mark.parametrize(
    "action, resource, context",
    [
        ("s3:GetObject", f"{BUCKET}/digits/data/train/001.zero/0001.png", None),
        ("s3:GetObject", f"{BUCKET}/digits/code/sourcedir-0123456789ab.tar.gz", None),
        ("s3:ListBucket", BUCKET, {"s3:prefix": "digits/data/"}),
        ("s3:PutObject", f"{BUCKET}/digits/models/{JOB}/output/model.tar.gz", None),
        ("s3:PutObject", f"{BUCKET}/digits/models/{JOB}/status.json", None),
        ("s3:AbortMultipartUpload", f"{BUCKET}/digits/models/{JOB}/output/model.tar.gz", None),
    ],
)
def test_the_bootstrap_can_do_its_job(documents, action, resource, context):
    assert allowed(documents, action, resource, context)


@pytest.mark.parametrize(
    "action, resource, context",
    [
        # other prefixes of the project, other jobs, other projects, other buckets
        ("s3:GetObject", f"{BUCKET}/digits/models/other-job/output/model.tar.gz", None),
        ("s3:GetObject", f"{BUCKET}/digits/checkpoints/x", None),
        ("s3:GetObject", f"{BUCKET}/other-project/data/train/x.png", None),
        ("s3:GetObject", f"{BUCKET}/digits/database/x", None),  # "data" is a folder, not a name prefix
        ("s3:GetObject", "arn:aws:s3:::another-bucket/digits/data/x.png", None),
        ("s3:PutObject", f"{BUCKET}/digits/models/other-job/output/model.tar.gz", None),
        ("s3:PutObject", f"{BUCKET}/digits/models/{JOB}-2/output/model.tar.gz", None),
        ("s3:PutObject", f"{BUCKET}/digits/data/train/001.zero/evil.png", None),
        ("s3:PutObject", f"{BUCKET}/digits/code/sourcedir-0123456789ab.tar.gz", None),
        # listing outside the data prefix, or the whole bucket
        ("s3:ListBucket", BUCKET, {"s3:prefix": ""}),
        ("s3:ListBucket", BUCKET, {"s3:prefix": "digits/"}),
        ("s3:ListBucket", BUCKET, {"s3:prefix": "digits/models/"}),
        ("s3:ListBucket", BUCKET, None),
        # other actions, even on its own prefix
        ("s3:DeleteObject", f"{BUCKET}/digits/models/{JOB}/output/model.tar.gz", None),
        ("s3:PutObjectAcl", f"{BUCKET}/digits/models/{JOB}/output/model.tar.gz", None),
        ("s3:GetObject", f"{BUCKET}/digits/models/{JOB}/output/model.tar.gz", None),
        ("s3:DeleteBucket", BUCKET, None),
        ("iam:PassRole", "arn:aws:iam::123456789012:role/digits-ec2-train", None),
        ("ec2:TerminateInstances", "*", None),
    ],
)
def test_everything_else_is_denied(documents, action, resource, context):
    assert not allowed(documents, action, resource, context)


def test_trust_policy_lets_only_ec2_assume_the_role(local_config):
    job = ec2_job.new_job(local_config, JOB, "s3://mlops-local/digits/code/x.tar.gz")
    create_role = next(
        step.params for step in ec2_roles.role_steps(local_config, job, "aws") if step.operation == "CreateRole"
    )
    (statement,) = json.loads(create_role["AssumeRolePolicyDocument"])["Statement"]
    assert statement == {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}


def test_partition_follows_the_region(local_config):
    job = ec2_job.new_job(local_config, JOB, "s3://mlops-local/digits/code/x.tar.gz")
    resource = iam_policies.ec2_job_policy(job.job_uri, partition="aws-cn")["Statement"][0]["Resource"]
    assert resource.startswith("arn:aws-cn:s3:::mlops-local/")


def test_policies_of_ended_jobs_are_pruned_and_running_ones_kept(local_config, boto_client):
    iam, ec2, s3 = boto_client("iam"), boto_client("ec2"), boto_client("s3")
    role = "digits-ec2-train"
    try:
        iam.create_role(
            RoleName=role, AssumeRolePolicyDocument=json.dumps(iam_policies.assume_role_policy("ec2.amazonaws.com"))
        )
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    for job in ("prune-done", "prune-gone", "prune-running", "prune-elsewhere", "prune-launching"):
        iam.put_role_policy(
            RoleName=role,
            PolicyName=f"job-{job}",
            PolicyDocument=json.dumps(
                iam_policies.ec2_job_policy(
                    ec2_job.new_job(local_config, job, "s3://mlops-local/digits/code/x").job_uri
                )
            ),
        )
    s3.create_bucket(Bucket="mlops-local")
    s3.put_object(Bucket="mlops-local", Key="digits/models/prune-done/status.json", Body=b'{"status": "Completed"}')
    image = ec2_images.find_image(ec2, "m5.large")["ImageId"]
    instances = {}
    for job in ("prune-gone", "prune-running"):  # plain user data: nothing runs locally
        instances[job] = ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "mlops:project", "Value": "digits"}, {"Key": "mlops:job", "Value": job}],
                }
            ],
        )["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[instances["prune-gone"]])
    stale = ec2_roles.stale_job_policies(iam, ec2, s3, local_config, keep="job-prune-launching")
    assert sorted(name for name in stale if name.startswith("job-prune-")) == ["job-prune-done", "job-prune-gone"]
    for name in stale:
        ec2_roles.remove_job_policy(iam, local_config, name)
    left = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert {"job-prune-running", "job-prune-elsewhere", "job-prune-launching"} <= set(left)
    assert not {"job-prune-done", "job-prune-gone"} & set(left)
    ec2.terminate_instances(InstanceIds=[instances["prune-running"]])
