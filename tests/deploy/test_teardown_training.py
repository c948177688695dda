"""`mlops status` shows what is training (SageMaker jobs, train-ec2 instances) and `teardown --all` stops it;
`teardown --lambda` also deletes the functions' role. A project of its own, so nothing else is touched."""

from __future__ import annotations

import json
import time

import pytest

from mlops_cli.services.ec2 import images as ec2_images

PROJECT = "tdown"
ENV = {"MLOPS_PROJECT": PROJECT}
DEADLINE_S = 60


def _launch(ec2, project: str, job: str) -> str:
    """An instance tagged like train-ec2's (plain user data: nothing runs on it locally)."""
    image = ec2_images.find_image(ec2, "m5.large")["ImageId"]
    return ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="m5.large",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "mlops:project", "Value": project}, {"Key": "mlops:job", "Value": job}],
            }
        ],
    )["Instances"][0]["InstanceId"]


def _state(ec2, instance_id: str) -> str:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


@pytest.mark.training  # a real training job runs until teardown stops it
def test_status_shows_running_training_and_teardown_all_stops_it(mlops, digits_in_s3, boto_client):
    sm, ec2 = boto_client("sagemaker"), boto_client("ec2")
    job = f"{PROJECT}-long"
    started = mlops("train", "--no-wait", "--job-name", job, "--hp", "epochs=50", env=ENV)
    assert started.exit_code == 0, started.output
    ours = _launch(ec2, PROJECT, f"{PROJECT}-ec2-job")
    ended = _launch(ec2, PROJECT, f"{PROJECT}-ec2-old")
    ec2.terminate_instances(InstanceIds=[ended])
    others = _launch(ec2, "someone-else", "someone-else-job")

    status = json.loads(mlops("-o", "json", "status", env=ENV).stdout)
    assert {"name": job, "status": "InProgress"}.items() <= status["training_jobs"][0].items()
    assert [(i["instance_id"], i["job"], i["state"]) for i in status["training_instances"]] == [
        (ours, f"{PROJECT}-ec2-job", "running")
    ]
    table = mlops("status", env=ENV).stdout
    assert "EC2 training instances" in table and ours in table, table

    plan = json.loads(mlops("-o", "json", "--dry-run", "teardown", "--all", env=ENV).stdout)
    assert [(step["operation"], step["params"]) for step in plan["steps"]] == [
        ("StopTrainingJob", {"TrainingJobName": job}),
        ("TerminateInstances", {"InstanceIds": [ours]}),
    ]
    assert _state(ec2, ours) == "running"  # the dry run sent nothing

    done = json.loads(mlops("-o", "json", "teardown", "--all", "--yes", env=ENV).stdout)
    assert [(row["operation"], row["resource"], row["outcome"]) for row in done["steps"]] == [
        ("StopTrainingJob", job, "stopped"),
        ("TerminateInstances", ours, "terminated"),
    ]
    assert _state(ec2, ours) == "terminated" and _state(ec2, others) == "running"
    deadline = time.monotonic() + DEADLINE_S
    while (
        sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] != "Stopped" and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] == "Stopped"
    assert json.loads(mlops("-o", "json", "status", env=ENV).stdout)["training_instances"] == []
    again = mlops("-o", "json", "teardown", "--all", "--yes", env=ENV)
    assert again.exit_code == 0 and json.loads(again.stdout)["steps"] == []
    ec2.terminate_instances(InstanceIds=[others])


def test_teardown_lambda_deletes_the_functions_role_with_its_policies(mlops, boto_client):
    iam = boto_client("iam")
    role = f"{PROJECT}-lambda-invoke"  # the name `mlops lambda deploy` gives it
    iam.create_role(
        RoleName=role,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )
    iam.put_role_policy(
        RoleName=role,
        PolicyName="invoke",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": "*"}],
            }
        ),
    )
    managed = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    iam.attach_role_policy(RoleName=role, PolicyArn=managed)

    kept = mlops("-o", "json", "teardown", "--yes", env=ENV)  # without --lambda the role stays
    assert kept.exit_code == 0 and iam.get_role(RoleName=role)

    done = json.loads(mlops("-o", "json", "teardown", "--lambda", "--yes", env=ENV).stdout)
    assert [(row["operation"], row["resource"]) for row in done["steps"]] == [
        ("DeleteRolePolicy", f"{role} (invoke)"),
        ("DetachRolePolicy", f"{role} ({managed})"),
        ("DeleteRole", role),
    ]
    assert role not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
