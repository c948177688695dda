"""The defects the strict local AWS (and reading AWS's contracts) found, each fixed: tags on scalable targets only on
creation, the Lambda's endpoint timeout within its invocation, Graviton types, train-ec2's instance type, separate
least-privilege SageMaker roles for training and endpoints. (First train/deploy on a fresh account:
test_aws_behaviours.py.)"""

from __future__ import annotations

import json
from types import SimpleNamespace

from tests.lambda_.lambda_helpers import load_handler


def test_tags_go_with_the_scalable_target_only_when_it_is_created():
    """AWS refuses Tags on RegisterScalableTarget for a target that exists (test_aws_behaviours.py); before the fix
    `mlops autoscale` and `deploy --autoscale` sent them on every change (tests/deploy's autoscale test re-registers
    a live target on the strict local AWS). Tags an existing target lacks go through TagResource."""
    from mlops_cli.services.deploy import autoscaling

    tags = {"mlops:project": "digits"}
    desired = autoscaling.ScalingSettings(1, 3, 5.0, 30, 30)
    new = autoscaling.apply_steps(autoscaling.ScalingState("e", "AllTraffic"), desired, tags)
    assert [(step.operation, step.params.get("Tags")) for step in new[:1]] == [("RegisterScalableTarget", tags)]

    arn = "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/abc"
    existing = autoscaling.ScalingState(
        "e", "AllTraffic", target={"MinCapacity": 1, "MaxCapacity": 2, "ScalableTargetARN": arn}, tags=tags
    )
    changed = autoscaling.apply_steps(existing, desired, tags)
    assert changed[0].operation == "RegisterScalableTarget" and "Tags" not in changed[0].params
    untagged = autoscaling.ScalingState("e", "AllTraffic", target=existing.target)
    assert [
        (step.operation, step.params.get("Tags"))
        for step in autoscaling.apply_steps(untagged, desired, tags)
        if step.operation != "PutScalingPolicy"
    ] == [("RegisterScalableTarget", None), ("TagResource", tags)]


def test_lambda_gives_up_on_the_endpoint_while_it_can_still_answer(monkeypatch, local_aws):
    """One attempt, connect + read within the invocation's remaining time less the margin to answer 504 (before:
    60 s read timeout x 2 attempts in a 30 s function)."""
    handler = load_handler(monkeypatch, local_aws, "strict-timeout")
    for remaining_ms in (30_000, 10_000, 4_000):
        context = SimpleNamespace(get_remaining_time_in_millis=lambda ms=remaining_ms: ms)
        config = handler.runtime_for(*handler.endpoint_timeouts(context)).meta.config
        assert config.retries["total_max_attempts"] == 1
        assert (config.connect_timeout + config.read_timeout) * 1000 <= remaining_ms - handler.ANSWER_MARGIN_MS


def test_graviton_types_are_refused_with_a_clear_message(mlops):
    """Endpoints may run on Graviton (ml.c7g...), but the PyTorch images mlops resolves are x86_64: refused before
    anything is sent, instead of an x86 image on an arm64 instance. (Training has no Graviton types at all; the
    config check refuses them.)"""
    result = mlops(
        "deploy",
        "--dry-run",
        "--model",
        "s3://mlops-local/digits/models/x/output/model.tar.gz",
        "--instance-type",
        "ml.c7g.xlarge",
    )
    assert result.exit_code == 2, result.output
    assert "'ml.c7g.xlarge' is AWS Graviton (arm64)" in result.stderr and "x86_64" in result.stderr


def test_train_ec2_defaults_to_a_type_the_deep_learning_ami_supports(mlops):
    from mlops_cli.config.schema import Ec2TrainConfig
    from mlops_cli.services.ec2 import images as ec2_images

    default = Ec2TrainConfig().instance_type
    assert ec2_images.unsupported_type_warning(default, None) is None
    result = mlops("train-ec2", "--dry-run", "--instance-type", "m5.xlarge")
    assert result.exit_code == 0, result.output
    assert "m5.xlarge is not among the instance types the PyTorch Deep Learning AMI supports" in result.stderr


def _actions(policy: dict) -> dict[str, list[str]]:
    """action -> resources it is allowed on."""
    allowed: dict[str, list[str]] = {}
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            allowed.setdefault(action, []).extend(resources)
    return allowed


def test_endpoints_read_only_model_artifacts_and_training_writes_only_outputs_and_checkpoints():
    from mlops_cli.config import load_config
    from mlops_cli.services.iam.policies import sagemaker_endpoint_policy, sagemaker_execution_policy
    from tests.helpers import LOCAL_CONFIG

    config = load_config([LOCAL_CONFIG], env={})
    endpoint = _actions(sagemaker_endpoint_policy(config, "123456789012"))
    assert endpoint["s3:GetObject"] == ["arn:aws:s3:::mlops-local/digits/models/*/model.tar.gz"]
    assert not [action for action in endpoint if action.startswith("s3:") and action != "s3:GetObject"]
    training = _actions(sagemaker_execution_policy(config, "123456789012"))
    assert sorted(training["s3:PutObject"]) == [
        "arn:aws:s3:::mlops-local/digits/checkpoints/*",
        "arn:aws:s3:::mlops-local/digits/models/*",
    ]
    assert "s3:DeleteObject" not in training
    for policy in (endpoint, training):  # the Deep Learning Containers' own account and region only
        assert policy["ecr:BatchGetImage"] == ["arn:aws:ecr:us-east-1:763104351884:repository/pytorch-*"]


def test_audit_iam_finds_nothing_wrong_with_the_roles_the_project_generates(mlops, boto_client, tmp_path):
    """Every role the project generates, created by the project's own code in the local AWS: audit-iam reports
    none of them."""
    from mlops_cli.config import load_config
    from mlops_cli.services.iam import policies as iam_policies
    from mlops_cli.services.iam import sagemaker_roles
    from mlops_cli.services.iam.policies import assume_role_policy
    from tests.helpers import LOCAL_CONFIG, converge_role

    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        LOCAL_CONFIG.read_text()
        .replace("project: digits", "project: strictaudit")
        .replace("prefix: digits", "prefix: strictaudit")
    )
    config = load_config([config_path], env={})
    iam = boto_client("iam")
    account = "123456789012"
    for role in (sagemaker_roles.training_role(), sagemaker_roles.endpoint_role()):
        converge_role(role, config, boto_client, account_id=account, partition="aws")
    generated = iam_policies.project_roles(config)
    for role in generated:  # the Lambda and EC2 roles: their documents as the Lambda and EC2 helpers write them
        if role.service in ("lambda.amazonaws.com", "ec2.amazonaws.com"):
            iam.create_role(
                RoleName=role.name,
                AssumeRolePolicyDocument=json.dumps(
                    assume_role_policy(role.service, account if role.service.startswith("lambda") else None)
                ),
            )
            iam.put_role_policy(
                RoleName=role.name,
                PolicyName="generated",
                PolicyDocument=json.dumps(role.policy(config, account, "aws")),
            )
    result = mlops("-o", "json", "audit-iam", config=config_path)
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    names = {role.name for role in generated}
    assert len(names) == 5  # training, endpoint, batch (predict-batch), Lambda, EC2
    flagged = [finding for finding in report["findings"] if any(name in json.dumps(finding) for name in names)]
    assert flagged == []


def test_status_reports_a_resource_it_cannot_read_and_goes_on(boto_client):
    """A function whose tags this identity may not read (AccessDenied: the local AWS enforces no IAM, so botocore's
    before-call hook answers for AWS there; every other call goes to the local AWS) is reported, and status still
    shows the rest. Before, one unreadable resource failed the whole command."""
    import io
    import zipfile

    from botocore.awsrequest import AWSResponse

    from mlops_cli.config import load_config
    from mlops_cli.services import status
    from tests.helpers import LOCAL_CONFIG

    config = load_config([LOCAL_CONFIG], env={"MLOPS_PROJECT": "strictstatus"})
    iam, lam = boto_client("iam"), boto_client("lambda")
    role = iam.create_role(
        RoleName="strictstatus-fn",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    for name in ("strictstatus-fn", "strict-unreadable-fn"):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": package.getvalue()},
        )

    def deny_tags(params, **_):
        if "strict-unreadable-fn" in params["url_path"]:
            return AWSResponse("", 403, {}, None), {
                "Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform: lambda:ListTags"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
        return None

    lam.meta.events.register("before-call.lambda.ListTags", deny_tags)
    found = status.gather(lambda service: lam if service == "lambda" else boto_client(service), config)
    assert [f["name"] for f in found["functions"]] == ["strictstatus-fn"]
    assert found["unreadable"] == [
        {
            "kind": "function tags",
            "name": "strict-unreadable-fn",
            "error": "AccessDeniedException: not authorized to perform: lambda:ListTags",
        }
    ]
    for name in ("strictstatus-fn", "strict-unreadable-fn"):
        lam.delete_function(FunctionName=name)
