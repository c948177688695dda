"""`mlops train --dry-run`: the exact CreateTrainingJob request (single, multi-instance, spot, GPU), --hp handling,
the generated execution role, and the warnings about N instances training N copies. No AWS is needed here."""

from __future__ import annotations

import json
import re

import pytest

from mlops_cli.services.training import job as training
from mlops_cli.services.training import packaging
from tests.helpers import LOCAL_CONFIG, closed_url

SHA12 = packaging.build_source_tarball().sha256[:12]
SUBMIT_DIR = f"s3://mlops-local/digits/code/sourcedir-{SHA12}.tar.gz"
CPU_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-cpu-py312"
GPU_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.6.0-gpu-py312"
ENGINE_LINE = "epoch=2 train_loss=0.4123 train_acc=0.8811 valid_loss=0.3010 valid_acc=0.9167 lr=0.001 images_per_s=98.5"


def expected_hyperparameters(job: str, **changes: str) -> dict[str, str]:
    """configs/local.yaml's hyperparameters, each value json.dumps-encoded as the SageMaker SDK does."""
    values = {
        "epochs": "2",
        "batch_size": "32",
        "lr": "0.003",
        "weight_decay": "0.0",
        "lr_schedule": '"cosine"',
        "early_stopping_patience": "0",
        "seed": "0",
        "hflip": "false",
        "arch": '"resnet18"',
        "pretrained": "false",
        "pretrained_fallback": "false",
        "freeze_backbone": "false",
        "hidden_units": "0",
        "image_size": "32",
        "sagemaker_program": '"model/train_sagemaker.py"',
        "sagemaker_submit_directory": json.dumps(SUBMIT_DIR),
        "sagemaker_region": '"us-east-1"',
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": json.dumps(job),
    }
    return {**values, **changes}


def test_single_instance_request_is_exact(dry_run):
    request, plan, stderr = dry_run("--job-name", "plan-single")
    assert request == {
        "TrainingJobName": "plan-single",
        "AlgorithmSpecification": {
            "TrainingImage": CPU_IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": request["AlgorithmSpecification"]["MetricDefinitions"],
            "EnableSageMakerMetricsTimeSeries": True,
        },
        "RoleArn": "arn:aws:iam::000000000000:role/digits-sagemaker-execution",
        "InputDataConfig": [
            {
                "ChannelName": "training",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://mlops-local/digits/data/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "InputMode": "File",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://mlops-local/digits/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "HyperParameters": expected_hyperparameters("plan-single"),
        "EnableManagedSpotTraining": False,
        "Tags": [{"Key": "mlops:project", "Value": "digits"}],
    }
    # Every value the container receives decodes as JSON, like the SDK's.
    assert all(isinstance(json.loads(value), (int, float, str, bool)) for value in request["HyperParameters"].values())
    # The generated role first, then the source package to the key its hash names.
    assert [(step["service"], step["operation"]) for step in plan["steps"]] == [
        ("iam", "CreateRole"),
        ("iam", "PutRolePolicy"),
        ("s3", "PutObject"),
        ("sagemaker", "CreateTrainingJob"),
    ]
    assert plan["steps"][2]["params"]["Key"] == f"digits/code/sourcedir-{SHA12}.tar.gz"
    assert "warning" not in stderr


def test_metric_definitions_match_the_engine_lines(dry_run):
    from model.metrics import METRIC_NAMES

    request, _, _ = dry_run("--job-name", "plan-metrics")
    definitions = request["AlgorithmSpecification"]["MetricDefinitions"]
    assert [item["Name"] for item in definitions] == list(METRIC_NAMES)
    found = {item["Name"]: float(m.group(1)) for item in definitions if (m := re.search(item["Regex"], ENGINE_LINE))}
    assert found == {
        "epoch": 2,
        "train_loss": 0.4123,
        "train_acc": 0.8811,
        "valid_loss": 0.3010,
        "valid_acc": 0.9167,
        "lr": 0.001,
        "images_per_s": 98.5,
    }


@pytest.mark.parametrize("flag", ["--instance-count", "--instances"])
def test_multi_instance_request_replicates_the_data_to_every_instance(dry_run, flag):
    request, _, stderr = dry_run(flag, "3", "--job-name", "plan-multi")
    assert request["ResourceConfig"]["InstanceCount"] == 3
    # DDP: each instance reads the whole channel; the engine's DistributedSampler does the sharding.
    source = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert source["S3DataDistributionType"] == "FullyReplicated"
    assert request["HyperParameters"] == expected_hyperparameters("plan-multi")
    assert "independent copies" not in stderr


def test_spot_request_has_max_wait_and_checkpoints(dry_run):
    request, _, _ = dry_run("--spot", "--job-name", "plan-spot")
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert request["CheckpointConfig"] == {
        "S3Uri": "s3://mlops-local/digits/checkpoints/plan-spot",
        "LocalPath": "/opt/ml/checkpoints",
    }

    request, _, _ = dry_run("--spot", "--job-name", "plan-spot", env={"MLOPS_TRAIN__SAGEMAKER__MAX_WAIT_S": "5400"})
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 5400}

    request, _, _ = dry_run("--no-spot", "--job-name", "plan-spot", env={"MLOPS_TRAIN__SAGEMAKER__SPOT": "true"})
    assert request["EnableManagedSpotTraining"] is False and "CheckpointConfig" not in request


@pytest.mark.parametrize(
    "instance_type, image", [("ml.g5.xlarge", GPU_IMAGE), ("ml.p3.2xlarge", GPU_IMAGE), ("ml.c5.2xlarge", CPU_IMAGE)]
)
def test_gpu_instance_types_get_the_gpu_image(dry_run, instance_type, image):
    request, _, _ = dry_run("--instance-type", instance_type, "--instances", "2", "--job-name", "plan-gpu")
    assert request["AlgorithmSpecification"]["TrainingImage"] == image
    assert request["ResourceConfig"] == {"InstanceType": instance_type, "InstanceCount": 2, "VolumeSizeInGB": 30}


def test_region_picks_that_regions_registry(dry_run):
    request, _, _ = dry_run("--region", "eu-central-2", "--job-name", "plan-region")
    assert (
        request["AlgorithmSpecification"]["TrainingImage"]
        == "380420809688.dkr.ecr.eu-central-2.amazonaws.com/pytorch-training:2.6.0-cpu-py312"
    )
    assert json.loads(request["HyperParameters"]["sagemaker_region"]) == "eu-central-2"


def test_hp_overrides_are_json_encoded(dry_run):
    request, _, _ = dry_run(
        "--hp",
        "epochs=3",
        "--hp",
        "lr=0.01",
        "--hp",
        "arch=resnet34",
        "--hp",
        "pretrained=true",
        "--hp",
        "batch-size=16",
        "--hp",
        "hflip=yes",
        "--job-name",
        "plan-hp",
    )
    assert request["HyperParameters"] == expected_hyperparameters(
        "plan-hp", epochs="3", lr="0.01", arch='"resnet34"', pretrained="true", batch_size="16", hflip="true"
    )


@pytest.mark.parametrize(
    "item, message",
    [
        ("epoch=3", "unknown hyperparameter 'epoch' (did you mean 'epochs'?)"),
        ("epochs=three", "--hp epochs=three: Input should be a valid integer"),
        ("epochs=1.5", "--hp epochs=1.5: Input should be a valid integer"),
        ("epochs=0", "--hp epochs=0: Input should be greater than or equal to 1"),
        ("arch=vgg16", "--hp arch=vgg16: Input should be"),
        ("lr_schedule=linear", "--hp lr_schedule=linear: Input should be 'cosine', 'step' or 'none'"),
        ("epochs", "--hp expects key=value, got 'epochs'"),
        ("hflip=sometimes", "--hp hflip=sometimes: Input should be a valid boolean"),
    ],
)
def test_bad_hp_exits_2_before_any_aws_call(mlops, item, message):
    # Nothing listens there: any AWS call would fail with exit 1 ("cannot reach"), not 2.
    closed = {"MLOPS_AWS__ENDPOINT_URL": closed_url()}
    result = mlops("train", "--hp", item, env=closed)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_bad_instance_count_and_job_name_exit_2(mlops):
    result = mlops("train", "--dry-run", "--instances", "0")
    assert result.exit_code == 2 and "--instance-count" in result.stderr
    result = mlops("train", "--dry-run", "--job-name", "bad_name!")
    assert result.exit_code == 2 and "--job-name 'bad_name!'" in result.stderr


def test_generated_execution_role_is_least_privilege(dry_run):
    from mlops_cli.config import load_config
    from mlops_cli.services.iam.policies import sagemaker_execution_policy

    _, plan, _ = dry_run("--job-name", "plan-role", env={"MLOPS_TRAIN__SAGEMAKER__ROLE_ARN": "null"})
    steps = plan["steps"]
    assert [(step["service"], step["operation"]) for step in steps] == [
        ("iam", "CreateRole"),
        ("iam", "PutRolePolicy"),
        ("s3", "PutObject"),
        ("sagemaker", "CreateTrainingJob"),
    ]
    assert steps[3]["params"]["RoleArn"] == "arn:aws:iam::000000000000:role/digits-sagemaker-execution"
    assert steps[0]["params"]["RoleName"] == steps[1]["params"]["RoleName"] == "digits-sagemaker-execution"
    trust = json.loads(steps[0]["params"]["AssumeRolePolicyDocument"])
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": "000000000000"}},
        }
    ]
    policy = json.loads(steps[1]["params"]["PolicyDocument"])
    # The very document `audit-iam` holds the live role to.
    config = load_config([LOCAL_CONFIG], env={})
    assert policy == sagemaker_execution_policy(config, "000000000000", "aws")
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert not any("*" in action for action in actions), statement
        for resource in resources:
            if resource.startswith("arn:aws:s3:::"):
                assert resource == "arn:aws:s3:::mlops-local" or resource.startswith("arn:aws:s3:::mlops-local/digits/")
            if resource == "arn:aws:s3:::mlops-local" and "s3:ListBucket" in actions:
                assert all(prefix.startswith("digits") for prefix in statement["Condition"]["StringLike"]["s3:prefix"])
            if resource == "*":  # only where AWS has no resource-level permissions, and then narrowed if it can be
                assert set(actions) <= {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}, statement
                if "cloudwatch:PutMetricData" in actions:
                    assert statement["Condition"] == {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*"]}}


def test_warns_when_instances_would_train_independent_copies(dry_run):
    request, _, _ = dry_run("--instances", "2", "--job-name", "plan-warn")
    real_entry = packaging.build_source_tarball().read(training.ENTRY_POINT).decode()
    assert training.distribution_warnings(request, real_entry) == []

    no_ddp = "import argparse\nprint('training on my own')\n"
    [warning] = training.distribution_warnings(request, no_ddp)
    assert "2 instances would train 2 independent copies" in warning

    sharded = json.loads(json.dumps(request))
    sharded["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataDistributionType"] = "ShardedByS3Key"
    [warning] = training.distribution_warnings(sharded, real_entry)
    assert "ShardedByS3Key" in warning and "FullyReplicated" in warning

    single = json.loads(json.dumps(request))
    single["ResourceConfig"]["InstanceCount"] = 1
    assert training.distribution_warnings(single, no_ddp) == []
