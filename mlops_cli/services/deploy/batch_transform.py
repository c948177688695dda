"""`mlops predict-batch`: a SageMaker batch transform job that scores every image under an S3 prefix with the same
model and handlers an endpoint serves, and writes one `<image>.out` (the handler's JSON) per image.

Images are one record each: `SplitType: None` (an object is never split), `BatchStrategy: SingleRecord` (one
object per request), `ContentType: application/x-image` (the handler reads the image's own format from its
bytes), `Accept: application/json`, `AssembleWith: None`. The model runs as the project's batch role (it reads
the model artifacts and the batch inputs, and writes predictions only), so inputs must lie under the project's
data or batch-input prefix and outputs under its predictions prefix, unless `train.sagemaker.role_arn` names a
role of the user's own.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlops_cli.errors import UsageError
from mlops_cli.plan import Plan, Poll, Step
from mlops_cli.plan.sends import sends, sends_via, sent_by
from mlops_cli.services import naming
from mlops_cli.services.deploy.endpoint import Artifact, create_model_step
from mlops_cli.services.s3sync.location import S3Location, parse_s3_uri

if TYPE_CHECKING:
    from mlops_cli.config.schema import Config

CONTENT_TYPE = "application/x-image"
ACCEPT = "application/json"
FINAL = ("Completed", "Failed", "Stopped")
MAX_POLL_S = 15.0
LOCAL_MAX_POLL_S = 1.0
TOP_LABELS = 5
MAX_OBJECTS_COUNTED = 100_000  # listing stops here: a plan's count, a summary's reads


@dataclass(frozen=True)
class BatchTarget:
    """What this predict-batch asks for."""

    job_name: str
    model_name: str
    artifact: Artifact
    image: str
    role_arn: str
    region: str
    source: S3Location  # the input prefix (after the upload, for a local folder)
    output: S3Location
    instance_type: str
    instance_count: int
    max_concurrent: int
    max_payload_mb: int
    tags: list[dict[str, str]]


def job_name(config: Config) -> str:
    from mlops_cli.services.deploy.endpoint import unique_name

    return unique_name(config, "batch")


def input_location(config: Config, uri: str) -> S3Location:
    """The job's input prefix; where the batch role may read (unless the user's own role runs it)."""
    location = parse_s3_uri(uri.rstrip("/"), "INPUT")
    if not location.prefix:
        raise UsageError(f"INPUT {uri} is a whole bucket; give the prefix that holds the images")
    readable = (naming.data_uri(config), naming.batch_input_uri(config))
    _check_under(config, location, readable, "INPUT", "reads")
    return location


def output_location(config: Config, uri: str | None, job: str) -> S3Location:
    """--to, or `<predictions>/<job>`; where the batch role may write (unless the user's own role runs it)."""
    location = parse_s3_uri((uri or f"{naming.predictions_uri(config)}/{job}").rstrip("/"), "--to")
    _check_under(config, location, (naming.predictions_uri(config),), "--to", "writes")
    return location


def _check_under(config: Config, location: S3Location, allowed: tuple[str, ...], flag: str, verb: str) -> None:
    if config.train.sagemaker.role_arn:
        return
    if not any(location.uri == root or location.uri.startswith(f"{root}/") for root in allowed):
        raise UsageError(
            f"{flag} {location.uri} is outside what the project's batch role {verb} ({', '.join(allowed)})",
            hint="use a prefix under those, or set train.sagemaker.role_arn to a role of your own",
        )


@sends("s3", "ListObjectsV2")
def count_objects(s3: Any, source: S3Location) -> int:
    """The objects under a prefix (folder markers left out), up to MAX_OBJECTS_COUNTED."""
    count = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=source.bucket, Prefix=source.list_prefix):
        count += sum(1 for item in page.get("Contents", []) if not item["Key"].endswith("/"))
        if count >= MAX_OBJECTS_COUNTED:
            break
    return count


def transform_request(target: BatchTarget) -> dict[str, Any]:
    return {
        "TransformJobName": target.job_name,
        "ModelName": target.model_name,
        "MaxConcurrentTransforms": target.max_concurrent,
        "MaxPayloadInMB": target.max_payload_mb,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{target.source.bucket}/{target.source.list_prefix}",
                }
            },
            "ContentType": CONTENT_TYPE,
            "CompressionType": "None",
            "SplitType": "None",
        },
        "TransformOutput": {"S3OutputPath": f"{target.output.uri}/", "Accept": ACCEPT, "AssembleWith": "None"},
        "TransformResources": {"InstanceType": target.instance_type, "InstanceCount": target.instance_count},
        "Tags": target.tags,
    }


def plan_batch(target: BatchTarget, role_steps: list[Step], wait: bool, max_poll_s: float = MAX_POLL_S) -> Plan:
    """The batch role (when generated), the model, the transform job; with `wait`, followed until it ends."""
    done = (
        Poll(
            lambda client_for, report: wait_for_transform(
                client_for("sagemaker"),
                client_for("s3"),
                target.job_name,
                target.output,
                report,
                max_poll_s=max_poll_s,
            ),
            f"transform job {target.job_name} Completed, Failed or Stopped",
            sends=sent_by(wait_for_transform),
        )
        if wait
        else None
    )
    steps = [
        *role_steps,
        create_model_step(
            target.model_name, target.image, target.artifact, target.role_arn, target.region, target.tags, role_steps
        ),
        Step(
            "sagemaker",
            "CreateTransformJob",
            transform_request(target),
            note=f"one request per image under {target.source.uri}/, one .out per image in {target.output.uri}/",
            name="job",
            wait=done,
        ),
    ]
    return Plan(f"predict-batch: transform job {target.job_name}", steps)


@sends("sagemaker", "DescribeTransformJob")
@sends_via(count_objects)
def wait_for_transform(
    sm: Any,
    s3: Any,
    name: str,
    output: S3Location,
    report: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    max_poll_s: float = MAX_POLL_S,
) -> dict[str, Any]:
    """Poll DescribeTransformJob until the job ends (its description, whatever the end); progress is the number
    of outputs written so far, as SageMaker shows no other."""
    delay = 0.5
    while True:
        described = sm.describe_transform_job(TransformJobName=name)
        status = described["TransformJobStatus"]
        if status in FINAL:
            return described
        report(f"{status}: {count_objects(s3, output)} outputs written")
        sleep(delay)
        delay = min(delay * 1.5, max_poll_s)


@sends("s3", "ListObjectsV2", "GetObject")
def summarize(s3: Any, source: S3Location, output: S3Location, inputs: int) -> dict[str, Any]:
    """Outputs read back: how many, how many inputs have none (failed), and the most frequent top labels."""
    labels: Counter[str] = Counter()
    written = unreadable = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=output.bucket, Prefix=output.list_prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".out") or written >= MAX_OBJECTS_COUNTED:
                continue
            written += 1
            body = s3.get_object(Bucket=output.bucket, Key=item["Key"])["Body"].read()
            try:
                labels[json.loads(body)["predictions"][0]["top_k"][0]["label"]] += 1
            except (ValueError, KeyError, IndexError, TypeError):
                unreadable += 1
    return {
        "inputs": inputs,
        "outputs": written,
        "failed": max(inputs - written, 0),
        "unreadable_outputs": unreadable,
        "top_labels": [{"label": label, "count": count} for label, count in labels.most_common(TOP_LABELS)],
    }
