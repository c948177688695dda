"""`mlops train-ec2 --dry-run`: the exact RunInstances request and a bootstrap that is valid bash; nothing sent."""

from __future__ import annotations

import json
import subprocess

from tests.helpers import free_port

JOB = "digits-ec2-dryrun"


def _dry_run(mlops, *args: str, env: dict | None = None) -> dict:
    # An endpoint nobody listens on: any request sent would fail the command.
    env = {"MLOPS_AWS__ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", **(env or {})}
    result = mlops("-o", "json", "train-ec2", "--dry-run", "--job-name", JOB, *args, env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _step(plan: dict, operation: str) -> dict:
    return next(step for step in plan["steps"] if step["operation"] == operation)


def test_run_instances_request(mlops):
    plan = _dry_run(
        mlops,
        "--instance-type",
        "g5.xlarge",
        env={
            "MLOPS_TRAIN__EC2__SUBNET_ID": "subnet-0123456789abcdef0",
            "MLOPS_TRAIN__EC2__SECURITY_GROUP_IDS": '["sg-0123456789abcdef0"]',
            "MLOPS_TRAIN__EC2__KEY_NAME": "me",
        },
    )
    assert [(s["service"], s["operation"]) for s in plan["steps"]] == [
        ("ec2", "DescribeImages"),  # the AMI first: nothing is written when there is none
        ("s3", "PutObject"),
        ("iam", "CreateRole"),
        ("iam", "PutRolePolicy"),
        ("iam", "PutRolePolicy"),
        ("iam", "CreateInstanceProfile"),
        ("iam", "AddRoleToInstanceProfile"),
        ("ec2", "RunInstances"),
    ]
    assert plan["offline"] is True  # nobody listens at the endpoint: planned for a fresh account
    assert _step(plan, "RunInstances")["refs"] == {
        "ImageId": "image.newest.ImageId",
        "BlockDeviceMappings.0": "image.root volume",
    }
    request = _step(plan, "RunInstances")["params"]
    user_data = request.pop("UserData")
    assert request == {
        "ImageId": "<newest image from DescribeImages>",
        "InstanceType": "g5.xlarge",
        "MinCount": 1,
        "MaxCount": 1,
        "IamInstanceProfile": {"Name": "digits-ec2-train"},
        "InstanceInitiatedShutdownBehavior": "terminate",
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
        "BlockDeviceMappings": [
            {
                "DeviceName": "<RootDeviceName of the AMI>",
                "Ebs": {"VolumeSize": 100, "VolumeType": "gp3", "DeleteOnTermination": True, "Encrypted": True},
            }
        ],
        "TagSpecifications": [
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "Name", "Value": JOB},
                    {"Key": "mlops:project", "Value": "digits"},
                    {"Key": "mlops:job", "Value": JOB},
                ],
            },
            {
                "ResourceType": "volume",
                "Tags": [{"Key": "mlops:project", "Value": "digits"}, {"Key": "mlops:job", "Value": JOB}],
            },
        ],
        "ClientToken": JOB,
        "SubnetId": "subnet-0123456789abcdef0",
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
        "KeyName": "me",
    }
    images = _step(plan, "DescribeImages")["params"]
    assert images["Owners"] == ["amazon"]
    assert {"Name": "architecture", "Values": ["x86_64"]} in images["Filters"]
    assert "Deep Learning OSS Nvidia Driver AMI GPU PyTorch *" in images["Filters"][0]["Values"]
    assert user_data.startswith("#!/bin/bash\n# mlops train-ec2 bootstrap\n")


def test_user_data_bootstrap(mlops):
    plan = _dry_run(mlops, "--hp", "epochs=3", "--hp", "lr=0.01")
    code = _step(plan, "PutObject")["params"]
    script = _step(plan, "RunInstances")["params"]["UserData"]
    assert len(script.encode()) < 16 * 1024
    syntax = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
    assert syntax.returncode == 0, syntax.stderr
    assert "@@" not in script  # every slot of the template filled
    lines = script.splitlines()
    assert "set -euo pipefail" in lines
    assert f"CODE_URI=s3://{code['Bucket']}/{code['Key']}" in lines
    assert "DATA_URI=s3://mlops-local/digits/data" in lines
    assert f"JOB_URI=s3://mlops-local/digits/models/{JOB}" in lines
    assert "trap finish EXIT" in lines
    hyperparameters = next(line for line in lines if line.startswith("HYPERPARAMETERS=("))
    for expected in ("--epochs 3", "--lr 0.01", "--arch resnet18", "--pretrained false", "--image_size 32"):
        assert expected in hyperparameters
    body = script[script.index("trap finish EXIT") :]
    assert '"$PYTHON" -m model.train_ec2 --data-dir "$WORKDIR/data" --model-dir "$WORKDIR/model"' in body
    assert 'aws s3 cp "$WORKDIR/model.tar.gz" "$JOB_URI/output/model.tar.gz"' in body
    finish = script[script.index("finish() {") : script.index("trap finish EXIT")]
    # The status object and the shutdown happen in the EXIT trap: a failure is recorded and still terminates.
    assert 'aws s3 cp "$WORKDIR/status.json" "$JOB_URI/status.json"' in finish
    assert finish.rstrip().endswith("shutdown -h now\n}")
    assert 'WORKDIR="${MLOPS_WORKDIR:-/opt/ml-ec2}"' in lines


def test_bootstrap_template_is_a_valid_shell_script():
    from importlib.resources import files

    from mlops_cli.services.ec2.training import BOOTSTRAP_TEMPLATE

    template = files("mlops_cli.services.ec2") / BOOTSTRAP_TEMPLATE
    syntax = subprocess.run(["bash", "-n", str(template)], text=True, capture_output=True)
    assert syntax.returncode == 0, syntax.stderr


def test_table_mode_prints_user_data_on_stderr(mlops):
    result = mlops(
        "train-ec2", "--dry-run", "--job-name", JOB, env={"MLOPS_AWS__ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    )
    assert result.exit_code == 0, result.output
    assert f"train-ec2 {JOB} (dry run: nothing is sent)" in result.stdout  # the plan for people
    assert "+ ec2 RunInstances" in result.stdout and "Plan: " in result.stdout
    assert "# mlops train-ec2 bootstrap" in result.stderr


def test_local_dry_run_shows_entry_point_and_upload(mlops, tiny_digits):
    result = mlops(
        "-o",
        "json",
        "train-ec2",
        "--local",
        "--dry-run",
        "--job-name",
        JOB,
        "--data-dir",
        str(tiny_digits),
        "--out-dir",
        "/tmp/nowhere",
    )
    assert result.exit_code == 0, result.output
    run, put = json.loads(result.stdout)["steps"]
    assert run["params"]["argv"][1:4] == ["-m", "model.train_ec2", "--data-dir"]
    assert run["params"]["argv"][4] == str(tiny_digits)
    assert put["params"]["Key"] == f"digits/models/{JOB}/output/model.tar.gz"


def test_bad_flags_exit_2_before_anything(mlops):
    cases = [
        (["--hp", "bogus=1"], "bogus"),
        (["--hp", "lr=-1"], "lr=-1"),
        (["--job-name", "bad_name!"], "--job-name"),
        (["--local", "--instance-type", "m5.large"], "--instance-type"),
        (["--data-dir", "/tmp"], "--local"),
        (["--local", "--max-cost", "1"], "--max-cost"),
        (["--max-cost", "-1"], "--max-cost"),
    ]
    for args, needle in cases:
        result = mlops("train-ec2", "--dry-run", *args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.stderr and "Traceback" not in result.output


def test_plan_prices_the_instance_up_to_its_runtime_cap(mlops):
    plan = _dry_run(mlops, "--instance-type", "g5.xlarge", env={"MLOPS_TRAIN__EC2__MAX_RUN_S": "7200"})
    (item,) = plan["cost"]["items"]
    # g5.xlarge on demand (1.006 USD/h) and its 100 GB gp3 root volume (0.08 USD per GB-month of 730 h), 2 hours.
    assert (item["item"], item["instance_type"], item["max_hours"], item["volume_gb"]) == (
        "EC2 training job",
        "g5.xlarge",
        2.0,
        100,
    )
    assert item["max_usd"] == plan["cost"]["max_usd"] == round((1.006 + 100 * 0.08 / 730) * 2, 4)
    assert plan["cost"]["prices"]["source"].startswith("shipped table")
    script = _step(plan, "RunInstances")["params"]["UserData"]
    # The cap is scheduled before the first download: a hung download or training still ends at it.
    assert script.index('shutdown -h "+$MAX_RUN_MINUTES"') < script.index('aws s3 cp "$CODE_URI"')
    assert "MAX_RUN_MINUTES=120" in script.splitlines()


def test_max_run_s_rounds_up_to_whole_minutes(mlops):
    plan = _dry_run(mlops, env={"MLOPS_TRAIN__EC2__MAX_RUN_S": "61"})
    script = _step(plan, "RunInstances")["params"]["UserData"].splitlines()
    assert "MAX_RUN_S=61" in script and "MAX_RUN_MINUTES=2" in script


def test_max_cost_refuses_before_anything_is_sent(mlops):
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens: a request sent would fail differently
    result = mlops("train-ec2", "--max-cost", "0.5", env={"MLOPS_AWS__ENDPOINT_URL": url})
    assert result.exit_code == 2, result.output
    assert "--max-cost 0.5 USD: EC2 training job (1 x g4dn.xlarge, max 3600 s) would cost at most 0.54 USD" in (
        result.stderr
    )
    assert "nothing was sent" in result.stderr
    allowed = mlops("-o", "json", "train-ec2", "--dry-run", "--max-cost", "1", env={"MLOPS_AWS__ENDPOINT_URL": url})
    assert allowed.exit_code == 0, allowed.output
    unpriced = mlops(
        "train-ec2", "--dry-run", "--instance-type", "p5en.48xlarge", "--max-cost", "1000",
        env={"MLOPS_AWS__ENDPOINT_URL": url},
    )  # fmt: skip
    assert unpriced.exit_code == 2 and "cannot estimate" in unpriced.stderr, unpriced.output
