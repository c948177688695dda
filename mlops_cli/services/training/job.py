"""SageMaker training jobs: the CreateTrainingJob request as data, launching it, following it, stopping it.

The request is what the SageMaker Python SDK's PyTorch estimator would send, built without the SDK:
script mode on the PyTorch Deep Learning Container (`sagemaker_program` = `model/train_sagemaker.py` inside
`sagemaker_submit_directory`), every hyperparameter value JSON-encoded, metric definitions from `model/metrics.py`.
Multi-instance jobs are real DDP: each instance gets the full data channel (FullyReplicated; the engine's
DistributedSampler shards it) and the entry point launches torchrun across `SM_HOSTS`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_cli.common import job_logs
from mlops_cli.common.job_logs import LogLine
from mlops_cli.errors import OperationError, UsageError
from mlops_cli.plan import Answers, Plan, Step
from mlops_cli.plan.sends import sends, sends_via
from mlops_cli.services import naming
from model import hyperparameters

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config
    from mlops_cli.services.training.packaging import SourcePackage

ENTRY_POINT = "model/train_sagemaker.py"
CHANNEL = "training"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
CONTAINER_LOG_LEVEL = 20  # logging.INFO, what the SDK sends
TERMINAL_STATUSES = ("Completed", "Failed", "Stopped")
# A dry run assumes an account where nothing exists yet; a 12-digit placeholder keeps every ARN valid.
ACCOUNT_PLACEHOLDER = "000000000000"
# Hyperparameters the entry point accepts, and the config section each one comes from.
HYPERPARAMETER_SECTIONS = hyperparameters.sections()  # name -> config section, from model/hyperparameters.py
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def user_hyperparameters(config: Config) -> dict[str, Any]:
    """The entry point's hyperparameters from config (train.hyperparameters + the model section), plain values."""
    plain = config.as_plain()
    sources = {"train.hyperparameters": plain["train"]["hyperparameters"], "model": plain["model"]}
    return {name: sources[section][name] for name, section in HYPERPARAMETER_SECTIONS.items()}


def encode_hyperparameters(
    user: dict[str, Any], *, submit_directory: str, region: str, job_name: str
) -> dict[str, str]:
    """Every value `json.dumps`-encoded, plus the script-mode keys, exactly like the SageMaker SDK."""
    values = {
        **user,
        "sagemaker_program": ENTRY_POINT,
        "sagemaker_submit_directory": submit_directory,
        "sagemaker_region": region,
        "sagemaker_container_log_level": CONTAINER_LOG_LEVEL,
        "sagemaker_job_name": job_name,
    }
    return {str(key): json.dumps(value) for key, value in values.items()}


def decode_hyperparameters(encoded: dict[str, str]) -> dict[str, Any]:
    """What the training container does: json-decode each value, keep the raw string where that fails."""
    decoded: dict[str, Any] = {}
    for key, value in encoded.items():
        try:
            decoded[key] = json.loads(value)
        except (TypeError, ValueError):
            decoded[key] = value
    return decoded


def metric_definitions() -> list[dict[str, str]]:
    from model import metrics

    return metrics.metric_definitions()


def check_job_name(name: str, flag: str = "--job-name") -> str:
    if not JOB_NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"{flag} '{name}': expected 1-63 letters, digits and hyphens, starting and ending with a letter or digit"
        )
    return name


def execution_role_steps(config: Config, *, account_id: str, partition: str) -> list[Step]:
    """The project's SageMaker training role: CreateRole when absent, and its least-privilege inline policy."""
    from mlops_cli.services.iam import sagemaker_roles

    return sagemaker_roles.role_steps(
        sagemaker_roles.training_role(), config, account_id=account_id, partition=partition
    )


def job_definition(
    config: Config, *, job_name: str, image: str, role_arn: str, submit_directory: str
) -> dict[str, Any]:
    """What every training job of the project runs as, in the members CreateTrainingJob and a tuning job's
    TrainingJobDefinition share: image and metric definitions, role, data channel, output, instances, stopping
    condition, spot and checkpoints, and all hyperparameters (encoded, script-mode keys included)."""
    sagemaker = config.train.sagemaker
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": sagemaker.max_run_s}
    definition: dict[str, Any] = {
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": metric_definitions(),
        },
        "RoleArn": role_arn,
        "InputDataConfig": [
            {
                "ChannelName": CHANNEL,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        # Trailing slash: the prefix `data` must not also match `data-old/...`.
                        "S3Uri": naming.data_uri(config) + "/",
                        # Every instance needs the whole set: the engine's DistributedSampler does the sharding.
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "InputMode": "File",
            }
        ],
        "OutputDataConfig": {"S3OutputPath": naming.output_uri(config)},
        "ResourceConfig": {
            "InstanceType": sagemaker.instance_type,
            "InstanceCount": sagemaker.instance_count,
            "VolumeSizeInGB": sagemaker.volume_gb,
        },
        "StoppingCondition": stopping,
        "HyperParameters": encode_hyperparameters(
            user_hyperparameters(config), submit_directory=submit_directory, region=config.aws.region, job_name=job_name
        ),
        "EnableManagedSpotTraining": sagemaker.spot,
    }
    if sagemaker.spot:
        stopping["MaxWaitTimeInSeconds"] = sagemaker.max_wait_s or 2 * sagemaker.max_run_s
        # An interrupted spot job restarts with /opt/ml/checkpoints restored from here and resumes.
        definition["CheckpointConfig"] = {
            "S3Uri": naming.checkpoint_uri(config, job_name),
            "LocalPath": CHECKPOINT_LOCAL_PATH,
        }
    return definition


def training_request(
    config: Config, *, job_name: str, image: str, role_arn: str, submit_directory: str
) -> dict[str, Any]:
    """The CreateTrainingJob parameters: the shared job definition, named and tagged."""
    request = {
        "TrainingJobName": job_name,
        **job_definition(config, job_name=job_name, image=image, role_arn=role_arn, submit_directory=submit_directory),
        "Tags": naming.tags(config),
    }
    request["AlgorithmSpecification"]["EnableSageMakerMetricsTimeSeries"] = True
    return request


def distribution_warnings(request: dict[str, Any], entry_point_source: str) -> list[str]:
    """Reasons why N > 1 instances would not train one model together (N independent copies instead)."""
    count = request["ResourceConfig"]["InstanceCount"]
    if count < 2:
        return []
    warnings = []
    program = json.loads(request["HyperParameters"]["sagemaker_program"])
    if not re.search(r"torch\.distributed|torchrun|init_process_group", entry_point_source):
        warnings.append(
            f"{count} instances would train {count} independent copies: the entry point {program} "
            "never starts torch.distributed"
        )
    for channel in request.get("InputDataConfig", []):
        source = channel["DataSource"].get("S3DataSource", {})
        if source.get("S3DataDistributionType") == "ShardedByS3Key":
            warnings.append(
                f"channel '{channel['ChannelName']}' is ShardedByS3Key: each of the {count} instances "
                f"gets 1/{count} of the data and DistributedSampler shards it again; "
                "use FullyReplicated"
            )
    return warnings


@dataclass
class JobInputs:
    """What every training job of the project needs before it can be requested: the source package (and the S3
    URI its hash names), the training image, the execution role (and the steps that create it when generated)."""

    package: SourcePackage
    code_prefix: str
    source_uri: str
    image: str
    role_arn: str
    role_steps: list[Step]


def job_inputs(config: Config, *, account_id: Callable[[], str], partition: str = "aws") -> JobInputs:
    """Package the source, resolve the image and role; sends nothing but, when the project's generated role is
    used, `account_id()` (pass one returning ACCOUNT_PLACEHOLDER for a dry run)."""
    from mlops_cli.services import images
    from mlops_cli.services.training import packaging

    package = packaging.build_source_tarball()
    if ENTRY_POINT not in package.files:
        raise UsageError(f"the source package has no {ENTRY_POINT}")
    sagemaker = config.train.sagemaker
    image = images.image_uri(
        config.aws.region, sagemaker.framework_version, sagemaker.py_version, sagemaker.instance_type, "training"
    )
    code_prefix = naming.code_prefix(config)
    role_steps = (
        [] if sagemaker.role_arn else execution_role_steps(config, account_id=account_id(), partition=partition)
    )
    return JobInputs(
        package,
        code_prefix,
        packaging.source_uri(package, code_prefix),
        image,
        naming.execution_role_arn(config, account_id, partition),
        role_steps,
    )


@dataclass
class TrainingLaunch:
    """Everything `mlops train` (or `mlops tune`) is about to do, built before anything is sent: the plan ends
    with the one request that starts the job."""

    plan: Plan
    request: dict[str, Any]
    package: SourcePackage
    code_prefix: str
    job_name: str
    warnings: list[str] = field(default_factory=list)
    role_steps: int = 0  # leading plan steps that create/update the generated execution role


def plan_launch(
    inputs: JobInputs, *, title: str, operation: str, request: dict[str, Any], job_name: str, warnings: list[str]
) -> TrainingLaunch:
    """The plan every job launch runs: the role steps, the source upload, then `operation` with `request`."""
    from mlops_cli.plan import Retry
    from mlops_cli.services.iam.propagation import ROLE_PROPAGATION_S, sagemaker_cannot_assume
    from mlops_cli.services.training import packaging

    plan = Plan(title)
    plan.steps.extend(inputs.role_steps)
    plan.steps.append(packaging.upload_step(inputs.package, inputs.code_prefix))
    plan.add(
        "sagemaker",
        operation,
        request,
        name="launch",
        # A role this plan converged may not be assumable yet (IAM propagation).
        retry=Retry(sagemaker_cannot_assume, ROLE_PROPAGATION_S, "the new IAM role is not assumable yet")
        if inputs.role_steps
        else None,
    )
    return TrainingLaunch(plan, request, inputs.package, inputs.code_prefix, job_name, warnings, len(inputs.role_steps))


def entry_point_warnings(definition: dict[str, Any], inputs: JobInputs) -> list[str]:
    return distribution_warnings(definition, inputs.package.read(ENTRY_POINT).decode("utf-8", "replace"))


def plan_training(
    config: Config, *, account_id: Callable[[], str], partition: str = "aws", job_name: str | None = None
) -> TrainingLaunch:
    """The CreateTrainingJob launch of `mlops train` (see `job_inputs` for what is looked up)."""
    job = check_job_name(job_name) if job_name else naming.timestamped(config, "train")
    inputs = job_inputs(config, account_id=account_id, partition=partition)
    request = training_request(
        config, job_name=job, image=inputs.image, submit_directory=inputs.source_uri, role_arn=inputs.role_arn
    )
    return plan_launch(
        inputs,
        title=f"train {job}",
        operation="CreateTrainingJob",
        request=request,
        job_name=job,
        warnings=entry_point_warnings(request, inputs),
    )


@dataclass
class LaunchResult:
    job_name: str
    job_arn: str
    source_uri: str
    source_uploaded: bool


def launch_result(launch: TrainingLaunch, answers: Answers, arn_key: str) -> LaunchResult:
    """What a launch plan's run answered: the job's ARN (under `arn_key`) and whether the source was uploaded."""
    from mlops_cli.services.training.packaging import source_uri

    return LaunchResult(
        launch.job_name,
        answers["launch"][arn_key],
        source_uri(launch.package, launch.code_prefix),
        answers.get("upload") is not None,
    )


# --- following a job -------------------------------------------------------------------------------------


@dataclass
class StatusChange:
    status: str  # InProgress, Completed, Failed, Stopping, Stopped
    secondary: str  # Starting, Downloading, Training, Uploading, ...
    message: str


@dataclass
class MetricValues:
    """A log line that carries metrics (matched by the job's MetricDefinitions), with their values."""

    line: LogLine
    values: dict[str, float]


@dataclass
class JobFinished:
    description: dict[str, Any]


JobEvent = StatusChange | LogLine | MetricValues | JobFinished


@sends("logs", "DescribeLogStreams", "GetLogEvents")
class JobLogReader(job_logs.JobLogReader):
    """Every instance's log stream of a training job, read on from where the last read stopped."""

    def __init__(self, logs: Any, job_name: str):
        super().__init__(logs, LOG_GROUP, job_name)


@sends("sagemaker", "DescribeTrainingJob")
def describe_job(sagemaker: Any, job_name: str) -> dict[str, Any]:
    """DescribeTrainingJob's answer without boto3's ResponseMetadata."""
    description = sagemaker.describe_training_job(TrainingJobName=job_name)
    description.pop("ResponseMetadata", None)
    return description


def _seconds(value: Any) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else float(value or 0)


@sends_via(describe_job, JobLogReader)
def follow_job(
    sagemaker: Any, logs: Any, job_name: str, *, poll_s: float = 10.0, sleep: Callable[[float], None] = time.sleep
) -> Iterator[JobEvent]:
    """Status transitions, log lines of every instance and metrics as they appear (in time order), then
    JobFinished with the final description."""
    reader = JobLogReader(logs, job_name)
    seen_transitions = 0
    last_status: tuple[str, str] | None = None
    while True:
        description = describe_job(sagemaker, job_name)
        status = description["TrainingJobStatus"]
        timed: list[tuple[float, JobEvent]] = []
        transitions = description.get("SecondaryStatusTransitions") or []
        for index in range(seen_transitions, len(transitions)):
            transition = transitions[index]
            shown = status if index == len(transitions) - 1 else "InProgress"
            timed.append(
                (
                    _seconds(transition.get("StartTime")),
                    StatusChange(shown, transition["Status"], transition.get("StatusMessage", "")),
                )
            )
            last_status = (shown, transition["Status"])
        seen_transitions = len(transitions)
        current = (status, description.get("SecondaryStatus", ""))
        if current != last_status:  # a status change without a new transition (e.g. Stopping)
            timed.append((time.time(), StatusChange(status, current[1], "")))
            last_status = current
        definitions = description.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
        for line in reader.read_new():
            values = job_logs.metric_values(line.message, definitions)
            timed.append((line.timestamp_ms / 1000, MetricValues(line, values) if values else line))
        timed.sort(key=lambda pair: pair[0])
        yield from (item for _, item in timed)
        if status in TERMINAL_STATUSES:
            yield JobFinished(description)
            return
        sleep(poll_s)


def failure_error(description: dict[str, Any]) -> OperationError:
    """The one-line error for a job that ended Failed or Stopped, with its FailureReason."""
    name = description["TrainingJobName"]
    status = description["TrainingJobStatus"]
    reason = description.get("FailureReason") or description.get("SecondaryStatus") or "no reason given"
    return OperationError(f"training job {name} {status.lower()}: {reason}".replace("\n", " "))


@sends("sagemaker", "StopTrainingJob")
def stop_job(sagemaker: Any, job_name: str) -> None:
    sagemaker.stop_training_job(TrainingJobName=job_name)


def stop_command(job_name: str) -> str:
    return f"aws sagemaker stop-training-job --training-job-name {job_name}"
