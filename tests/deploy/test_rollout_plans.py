"""The requests of a guarded update (deploy --rollout … --rollback-on …), valid by botocore's service models; the
config keys under deploy.rollout; and how the rollout is followed from DescribeEndpoint and DescribeAlarms."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops_cli.config import load_config
from mlops_cli.config.rollout_specs import parse_alarms, parse_strategy
from mlops_cli.errors import UsageError
from mlops_cli.services.deploy import endpoint as deploy
from mlops_cli.services.deploy.rollout import Rollout, follow_rollout
from tests.deploy.test_plans import CONFIG, live, target
from tests.helpers import LOCAL_CONFIG, put_alarm


def _validate(service: str, operation: str, params: dict) -> None:
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model(service)
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def _guarded(strategy: str, *alarms: str) -> deploy.DeployTarget:
    rollout = Rollout(parse_strategy(strategy), tuple(parse_alarms(list(alarms))), termination_wait_s=120)
    return deploy.DeployTarget(**{**target().__dict__, "rollout": rollout})


@pytest.mark.parametrize("strategy", ["canary:10%:5m", "linear:25%:2m", "all-at-once", "canary:1:30s"])
def test_update_puts_the_alarms_then_updates_with_a_deployment_config_botocore_accepts(strategy):
    plan = deploy.plan_deploy(_guarded(strategy, "p99>800ms", "5xx>1%", "errors>5", "their-alarm"), live())
    operations = [step.operation for step in plan.rollout]
    assert operations == ["CreateModel", "CreateEndpointConfig", *["PutMetricAlarm"] * 3, "UpdateEndpoint"]
    alarms = [step.params for step in plan.rollout if step.operation == "PutMetricAlarm"]
    for params in alarms:
        _validate("cloudwatch", "PutMetricAlarm", params)
        assert params["AlarmName"].startswith("digits-rollout-digits-endpoint-")
        assert {"Name": "EndpointConfigName", "Value": plan.target.config_name} in params["Dimensions"]
    update = plan.rollout[-1].params
    _validate("sagemaker", "UpdateEndpoint", update)
    named = [alarm["AlarmName"] for alarm in update["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    assert named == [params["AlarmName"] for params in alarms] + ["their-alarm"]
    assert update["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TerminationWaitInSeconds"] == 120
    assert plan.rollout[-1].wait is not None and ("cloudwatch", "DescribeAlarms") in plan.rollout[-1].wait.sends


def test_the_specs_become_the_metrics_and_thresholds_aws_alarms_on():
    p99, rate, count = parse_alarms(["p99>800ms", "5xx>=2.5%", "errors>5"])
    assert (p99.metric, p99.statistic, p99.threshold, p99.unit) == ("ModelLatency", "p99", 800_000, "Microseconds")
    assert (rate.metric, rate.statistic, rate.threshold, rate.operator) == (
        "Invocation5XXErrors",
        "Average",
        0.025,
        "GreaterThanOrEqualToThreshold",
    )
    assert (count.metric, count.statistic, count.threshold) == ("Invocation5XXErrors", "Sum", 5)
    assert parse_strategy("linear:25%:2m").shares(4) == [0.25, 0.5, 0.75, 1.0]
    assert parse_strategy("canary:1:1m").traffic_routing()["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": 1}


def test_a_new_endpoint_has_no_traffic_to_shift():
    plan = deploy.plan_deploy(_guarded("canary:10%:5m", "p99>800ms"), None)
    assert [step.operation for step in plan.rollout] == ["CreateModel", "CreateEndpointConfig", "CreateEndpoint"]


def test_config_keys_are_checked_and_named(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("deploy:\n  rollout:\n    strategy: linear:20%:1m\n    rollback_on: ['p90>1s']\n")
    config = load_config([LOCAL_CONFIG, good], env={})
    rollout = Rollout.from_config(config, is_local=True)
    assert rollout is not None and rollout.strategy.kind == "LINEAR" and rollout.alarms[0].statistic == "p90"
    assert Rollout.from_config(CONFIG, is_local=True) is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("deploy:\n  rollout:\n    strategy: canary:75%:1m\n")
    with pytest.raises(UsageError, match=r"deploy\.rollout\.strategy.*1% to 50%"):
        load_config([LOCAL_CONFIG, bad], env={})


class Answers:
    """DescribeEndpoint and DescribeAlarms answers, in order (the last one repeats)."""

    def __init__(self, endpoints: list[dict], alarms: list[str]):
        self.endpoints, self.alarms = endpoints, alarms

    def describe_endpoint(self, EndpointName: str) -> dict:  # noqa: N803 (boto3's parameter name)
        return self.endpoints.pop(0) if len(self.endpoints) > 1 else self.endpoints[0]

    def describe_alarms(self, AlarmNames: list[str], AlarmTypes: list[str]) -> dict:  # noqa: N803
        state = self.alarms.pop(0) if len(self.alarms) > 1 else self.alarms[0]
        alarms = [{"AlarmName": n, "StateValue": state, "StateReason": "Threshold crossed"} for n in AlarmNames]
        return {"MetricAlarms": alarms, "CompositeAlarms": []}


def _baking(step: int, started: datetime) -> dict:
    status = {"Status": "Baking", "StatusMessage": f"Step {step} of 2", "StartTime": started}
    return {
        "EndpointStatus": "Updating",
        "EndpointConfigName": "old",
        "PendingDeploymentSummary": {"ProductionVariants": [{"VariantName": "AllTraffic", "VariantStatus": [status]}]},
    }


def test_follow_tells_the_steps_and_returns_once_the_new_config_serves():
    first, second = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    answers = Answers(
        [
            _baking(1, first),
            _baking(1, first),
            _baking(2, second),
            {"EndpointStatus": "InService", "EndpointConfigName": "new"},
        ],
        ["OK"],
    )
    rollout = Rollout(parse_strategy("canary:10%:5m"), tuple(parse_alarms(["p99>1s"])))
    seen: list[str] = []
    done = follow_rollout(answers, answers, "e", "new", rollout, ["a"], 1, seen.append, sleep=lambda _: None)
    assert done["EndpointConfigName"] == "new"
    assert seen[0].startswith("canary step 1/2: 10% of the traffic on the new fleet") and "a OK" in seen[0]
    assert seen[-1].startswith("canary step 2/2: 100% of the traffic")


def test_follow_names_the_alarm_when_aws_rolled_back():
    started = datetime(2026, 1, 1, tzinfo=UTC)
    answers = Answers(
        [_baking(1, started), {"EndpointStatus": "RollingBack", "EndpointConfigName": "old"},
         {"EndpointStatus": "InService", "EndpointConfigName": "old", "FailureReason": "rolled back"}],
        ["OK", "ALARM"],
    )  # fmt: skip
    rollout = Rollout(parse_strategy("canary:10%:5m"), tuple(parse_alarms(["5xx>1%"])))
    with pytest.raises(deploy.EndpointFailed, match="alarm my-alarm went to ALARM"):
        follow_rollout(answers, answers, "e", "new", rollout, ["my-alarm"], 1, sleep=lambda _: None)


def test_the_rollback_alarms_carry_the_project_s_tags():
    plan = deploy.plan_deploy(_guarded("canary:10%:5m", "p99>800ms", "their-alarm"), live())
    (alarm,) = [step.params for step in plan.rollout if step.operation == "PutMetricAlarm"]
    assert alarm["Tags"] == plan.target.tags
    assert {"Key": "mlops:project", "Value": "digits"} in alarm["Tags"]
    assert {"Key": "mlops:endpoint", "Value": plan.target.endpoint} in alarm["Tags"]


MODEL = "s3://mlops-local/digits/models/hostile/model.tar.gz"


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--rollout", "canary:0%"], "is not one of canary:10%:5m"),
        (["--rollout", "canary:0%:5m"], "a canary step is 1% to 50%"),
        (["--rollout", "canary:100%:5m"], "a canary step is 1% to 50%"),
        (["--rollout", "linear:5%:1m"], "a linear step is 10% to 50%"),
        (["--rollout", "canary:10%:61m"], "SageMaker allows 0 to 3600 s"),
        (["--rollout", "canary:10%:99999h"], "SageMaker allows 0 to 3600 s"),
        (["--rollout", "canary:10%:5min"], "is not one of"),
        (["--rollout", "linear:10%:1h"], "outlast the 28800 s SageMaker gives an update"),
        (["--rollout", "canary:1:5m"], "a canary step of 1 instance(s) on a fleet of 1"),
        (["--rollout", "linear:1:5m", "--instance-count", "20"], "a linear step of 1 instance(s) on a fleet of 20"),
        (["--rollout", "canary:10%:5m", "--rollback-on", "p99>800"], "a latency needs ms or s"),
        (["--rollout", "canary:10%:5m", "--rollback-on", "p99>800mss"], "is not one of p99>800ms"),
        (["--rollout", "canary:10%:5m", "--rollback-on", "5xx>101%"], "a share is at most 100%"),
        (["--rollout", "canary:10%:5m", "--rollback-on", "errors>5ms"], "errors are a count"),
        (["--rollout", "canary:10%:5m", "--rollback-on", "5xx>1%", "--rollback-on", "errors>1%"], "given twice"),
        (["--rollout", "canary:10%:5m", "--rollback-on", "mine", "--rollback-on", "mine"], "given twice"),
        (["--rollback-on", "5xx>1%"], "--rollback-on needs --rollout"),
        (["--rollout", "canary:10%:5m", "--serverless", "memory=2048"], "do not apply to a serverless endpoint"),
    ],
)
def test_hostile_rollouts_are_refused_with_one_line(flags, said):
    from tests.deploy.conftest import cli

    result = cli("--dry-run", "deploy", "--model", MODEL, "--endpoint", "digits-hostile", *flags)
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.stderr.split())
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) <= 2  # the error, a hint


def test_what_sagemaker_accepts_is_planned_as_given():
    rollout = Rollout(parse_strategy("linear:33%:0s"), ())
    rollout.check(1)  # no bake at all is allowed (WaitIntervalInSeconds 0)
    assert rollout.strategy.traffic_routing() == {
        "Type": "LINEAR",
        "WaitIntervalInSeconds": 0,
        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 33},
    }
    assert rollout.strategy.shares(1) == [0.33, 0.66, 0.99, 1.0]
    Rollout(parse_strategy("canary:1:5m"), ()).check(2)  # half the new fleet
    Rollout(parse_strategy("linear:50%:1h"), (), max_execution_s=3 * 3600).check(1)  # 2 bakes of an hour fit
    with pytest.raises(UsageError, match="outlast the 7200 s"):
        Rollout(parse_strategy("linear:50%:1h"), (), termination_wait_s=60, max_execution_s=7200).check(1)


def test_an_alarm_named_must_exist_and_be_the_project_s(boto_client):
    """--rollback-on NAME, checked on the local CloudWatch before anything is sent: no such alarm, or one tagged
    for another project, is refused in one line; an untagged alarm of the user's, or one of this project, is used."""
    from mlops_cli.services.deploy.rollout import check_named_alarms

    cw = boto_client("cloudwatch")
    put_alarm(cw, "plans-theirs", [{"Key": "mlops:project", "Value": "other"}])
    put_alarm(cw, "plans-mine")
    try:

        def named(*names: str) -> Rollout:
            return Rollout(parse_strategy("canary:10%:5m"), tuple(parse_alarms(["p99>1s", *names])))

        with pytest.raises(UsageError, match="--rollback-on plans-nowhere: no CloudWatch alarm of that name"):
            check_named_alarms(cw, named("plans-mine", "plans-nowhere"), "digits")
        with pytest.raises(UsageError, match="--rollback-on plans-theirs: the alarm belongs to project 'other'"):
            check_named_alarms(cw, named("plans-theirs"), "digits")
        check_named_alarms(cw, named("plans-mine"), "digits")
        check_named_alarms(cw, named("plans-theirs"), "other")
    finally:
        cw.delete_alarms(AlarmNames=["plans-theirs", "plans-mine"])
