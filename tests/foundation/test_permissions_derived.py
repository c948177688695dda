"""`config permissions` derives each command's operations from its planning, not from a list: a plan's steps with
their fallbacks, checks and waits, the reads made while planning (recorded offline), what the functions around
the plan declare, and the branches an empty account does not take (planned against existing resources)."""

from __future__ import annotations

import pytest

from mlops_cli.aws import AwsClients, absent_on
from mlops_cli.config import load_config
from mlops_cli.plan import Instead, Plan, Poll, Step, Unless, Waiter, sends, sends_via, sent_by
from mlops_cli.plan.steps import ON_THIS_MACHINE
from mlops_cli.services.audit.policy import allows, parse_statements
from mlops_cli.services.iam import permissions
from mlops_cli.usecases import permissions as derived
from mlops_cli.usecases.permissions import Derivation
from tests.helpers import LOCAL_CONFIG

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def every_command() -> dict:
    """What each command sends, derived once (every planner run offline)."""
    return derived.operations(load_config([str(LOCAL_CONFIG)]), derived.commands())


def grants(document: dict, action: str, resource: str = "*") -> bool:
    return allows(parse_statements(document, "generated policy"), action, resource)


def test_a_plan_lists_its_steps_fallbacks_checks_and_waits():
    plan = Plan("example")
    plan.add(
        "iam",
        "CreateRole",
        {"RoleName": "r"},
        instead=Instead("EntityAlreadyExists", Step("iam", "UpdateAssumeRolePolicy", {"RoleName": "r"})),
    )
    plan.add(
        "s3",
        "PutObject",
        {"Bucket": "b", "Key": "k"},
        unless=Unless(lambda _client_for: False, "there already", sends=(("s3", "HeadObject"),)),
    )
    plan.add("lambda", "CreateFunction", {"FunctionName": "f"}, wait=Waiter("function_active_v2", {}, "lambda"))
    plan.add(
        "sagemaker",
        "CreateEndpoint",
        {"EndpointName": "e"},
        wait=Poll(lambda _client_for, _report: None, "InService", sends=(("sagemaker", "DescribeEndpoint"),)),
    )
    assert {(service, operation) for service, operation, _ in plan.operations()} == {
        ("iam", "CreateRole"),
        ("iam", "UpdateAssumeRolePolicy"),
        ("s3", "PutObject"),
        ("s3", "HeadObject"),
        ("lambda", "CreateFunction"),
        ("lambda", "GetFunction"),  # what botocore's function_active_v2 waiter polls
        ("sagemaker", "CreateEndpoint"),
        ("sagemaker", "DescribeEndpoint"),
    }


def test_declarations_compose_and_an_undeclared_function_is_refused():
    @sends("sagemaker", "DescribeTrainingJob")
    def describe() -> None: ...

    @sends("logs", "GetLogEvents")
    @sends_via(describe)
    def follow() -> None: ...

    def plain() -> None: ...

    assert set(sent_by(follow)) == {("logs", "GetLogEvents"), ("sagemaker", "DescribeTrainingJob")}
    with pytest.raises(TypeError, match="declares no @sends"):
        sent_by(plain)


def test_a_step_added_to_a_command_s_plan_is_granted(monkeypatch):
    """The policy follows the plan: what a planner reads and plans is granted, and nothing else."""
    config = load_config([str(LOCAL_CONFIG)])
    steps: list[Step] = []

    def planner(config, clients):
        sagemaker = clients.client("sagemaker")  # offline: the endpoint does not exist, and the read is recorded
        absent_on(("ValidationException",), lambda: sagemaker.describe_endpoint(EndpointName=config.endpoint_name))
        return [Plan("example", list(steps))]

    monkeypatch.setitem(derived.DERIVATIONS, "example", Derivation(planner))
    before = derived.permissions_policy(config, AwsClients(config.aws), ["example"], ACCOUNT)
    endpoint = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{config.endpoint_name}"
    assert grants(before, "sagemaker:DescribeEndpoint", endpoint)
    assert not grants(before, "sagemaker:DeleteEndpoint", endpoint)

    steps.append(Step("sagemaker", "DeleteEndpoint", {"EndpointName": config.endpoint_name}))
    after = derived.permissions_policy(config, AwsClients(config.aws), ["example"], ACCOUNT)
    assert grants(after, "sagemaker:DeleteEndpoint", endpoint)
    assert not grants(after, "sagemaker:DeleteEndpoint", f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/other")


@pytest.mark.parametrize(
    "command, expected",
    [
        # planned for an empty account (create) and for an existing, scaled endpoint (update)
        ("deploy", {"CreateEndpoint", "UpdateEndpoint", "DeregisterScalableTarget", "DescribeEndpoint"}),
        # the function and role created, or updated in every part
        ("lambda deploy", {"CreateFunction", "UpdateFunctionCode", "UpdateAlias", "DetachRolePolicy", "GetFunction"}),
        # an empty account has nothing to delete; one of everything does
        ("teardown", {"StopTrainingJob", "TerminateInstances", "DeleteEndpoint", "DeleteRole", "ListTags"}),
        ("autoscale", {"RegisterScalableTarget", "PutScalingPolicy", "DeleteScalingPolicy", "DescribeEndpoint"}),
        ("concurrency set", {"PutProvisionedConcurrencyConfig", "DeleteFunctionConcurrency", "GetAccountSettings"}),
        # followed to its end, stopped on Ctrl-C (declared next to that code)
        ("train", {"CreateTrainingJob", "GetLogEvents", "StopTrainingJob", "GetCallerIdentity"}),
        ("tune", {"CreateHyperParameterTuningJob", "ListTrainingJobsForHyperParameterTuningJob"}),
        ("status", {"ListEndpoints", "DescribeEndpointConfig", "ListProvisionedConcurrencyConfigs"}),
        ("audit-iam", {"GetAccountAuthorizationDetails", "ListAccessKeys", "GetLoginProfile"}),
        ("invoke", {"InvokeEndpoint"}),
        ("lambda invoke", {"Invoke"}),
        # the parts of a large file and the abort of a killed run's upload; the destination read while planning
        ("data upload", {"CreateBucket", "UploadPart", "AbortMultipartUpload", "DeleteObjects", "HeadObject"}),
        # the launch with its checks, an ended job's access removed, the job followed, --local's upload
        ("train-ec2", {"RunInstances", "GetInstanceProfile", "DeleteRolePolicy", "GetObject", "UploadPart"}),
        # a folder's upload, the job followed, its outputs read back for the summary
        ("predict-batch", {"PutObject", "UploadPart", "CreateModel", "CreateTransformJob", "DescribeTransformJob"}),
        # the load, sent by the plan's own run, and the target checked first
        ("loadtest", {"InvokeEndpoint", "Invoke", "DescribeEndpoint", "GetFunction"}),
    ],
)
def test_each_command_s_branches_are_derived(every_command, command, expected):
    assert expected <= {operation for _service, operation in every_command[command]}


def test_steps_run_on_this_machine_need_no_permission(every_command):
    assert not any(service == ON_THIS_MACHINE for sent in every_command.values() for service, _ in sent)


def test_a_check_or_poll_must_say_what_it_sends():
    with pytest.raises(TypeError):
        Unless(lambda _client_for: False, "there already")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Poll(lambda _client_for, _report: None, "InService")  # type: ignore[call-arg]


def test_every_command_that_calls_aws_is_known():
    assert set(derived.commands()) == set(derived.DERIVATIONS)
    assert permissions.parse_commands([], derived.commands()) == derived.commands()
