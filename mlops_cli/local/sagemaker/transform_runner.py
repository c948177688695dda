"""Batch transform jobs, run here as SageMaker runs them: the model's inference container (the same local model
server an endpoint runs, mlops_cli/local/sagemaker/model_server.py) on each of the job's instances, fed every
object under the input prefix.

As on SageMaker with `SplitType: None` (one object, one request): the objects are spread across the instances,
each instance sends up to MaxConcurrentTransforms requests at a time to `/invocations` with the input's
ContentType and the output's Accept, and the answer for `<prefix>/<path>` is written to `<S3OutputPath>/<path>.out`.
An object larger than MaxPayloadInMB, or one the model answers with an error, fails the job (with
"ClientError: ..." as its FailureReason) once every other object has been tried; the outputs written stay.
The instances' output goes to CloudWatch Logs `/aws/sagemaker/TransformJobs`, stream `<job>/<instance>`, and
each failed object is named in the stream `<job>/<instance>/data-log`, as on SageMaker.
StopTransformJob stops feeding objects and stops the servers: Stopped.
"""

from __future__ import annotations

import http.client
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.common.s3_uris import split_s3_uri
from mlops_cli.local.core.server import LocalRequest, ServerContext
from mlops_cli.local.logs.streams import LogStream
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker.hosting_runner import ModelServer, copy_output, start_process, wait_ready
from mlops_cli.local.sagemaker.transform_jobs import save_transform_job, transform_folder

LOG_GROUP = "/aws/sagemaker/TransformJobs"
INVOCATION_TIMEOUT_S = 600.0  # SageMaker's default InvocationsTimeoutInSeconds
MAX_OBJECTS = 100_000  # inputs listed per job: a bound on what one request can make this machine do


@dataclass
class TransformRun:
    name: str
    request: LocalRequest
    params: dict[str, Any]
    stop_requested: threading.Event = field(default_factory=threading.Event)
    servers: list[ModelServer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: list[str] = field(default_factory=list)


class TransformRunner:
    def __init__(self, context: ServerContext):
        self.context = context
        self.runs: dict[str, TransformRun] = {}
        self.lock = threading.Lock()

    def start(self, request: LocalRequest, params: dict[str, Any]) -> None:
        run = TransformRun(params["TransformJobName"], request, params)
        with self.lock:
            self.runs[run.name] = run
        threading.Thread(target=self._run, args=(run,), name=f"transform-{run.name}", daemon=True).start()

    def stop(self, name: str) -> bool:
        """Ask a running job to stop (Stopping now, Stopped once its servers are gone); False when it is not
        running here."""
        with self.lock:  # the job's final status is saved under the same lock: Stopping never comes after it
            run = self.runs.get(name)
            if run is None:
                return False
            self._save(run, transform_job_status="Stopping")
            run.stop_requested.set()
        self._stop_servers(run)
        return True

    def shutdown(self) -> None:
        with self.lock:
            runs = list(self.runs.values())
        for run in runs:
            run.stop_requested.set()
            self._stop_servers(run)

    @staticmethod
    def _stop_servers(run: TransformRun) -> None:
        with run.lock:
            servers, run.servers = run.servers, []
        for server in servers:
            server.stop(drain=False)

    def _run(self, run: TransformRun) -> None:
        try:
            status, reason = self._transform(run)
        except Exception as exc:  # a local AWS bug must still end the job, as SageMaker would
            print(f"transform job {run.name}: {exc!r}", file=sys.stderr, flush=True)
            status, reason = "Failed", f"InternalServerError: {type(exc).__name__}: {exc}"
        self._stop_servers(run)
        with self.lock:
            self.runs.pop(run.name, None)
            if run.stop_requested.is_set():
                status, reason = "Stopped", None
            self._save(run, transform_job_status=status, failure_reason=reason)

    def _save(self, run: TransformRun, **attributes: Any) -> None:
        save_transform_job(self.context, run.request.account, run.request.region, run.name, **attributes)

    def _transform(self, run: TransformRun) -> tuple[str, str | None]:
        params, request = run.params, run.request
        source = params["TransformInput"]["DataSource"]["S3DataSource"]
        s3 = self.context.client("s3", request.region)
        keys = _list_objects(s3, source["S3Uri"])
        if not keys:
            return "Failed", f'ClientError: No S3 objects found under S3 URL "{source["S3Uri"]}"'
        model = records.model(request.account, request.region, params["ModelName"])
        if model is None:
            return "Failed", f'ClientError: Could not find model "{params["ModelName"]}".'
        count = int(params["TransformResources"]["InstanceCount"])
        for index in range(count):
            if run.stop_requested.is_set():
                return "Stopped", None
            server = ModelServer(
                run.name,
                params["ModelName"],
                f"algo-{index + 1}",
                start_process(
                    self.context,
                    request,
                    model.primary_container,
                    transform_folder(self.context, run.name) / f"algo-{index + 1}",
                    params.get("Environment"),
                    role_arn=getattr(model, "execution_role_arn", None),
                    session_name=run.name,
                ),
                transform_folder(self.context, run.name) / f"algo-{index + 1}",
                log_group=LOG_GROUP,
                log_stream=f"{run.name}/algo-{index + 1}",
            )
            with run.lock:
                run.servers.append(server)
            copy_output(self.context, request, server)
        for server in list(run.servers):
            failure = wait_ready(server)
            if failure is not None:
                return "Failed", f"AlgorithmError: the model server on {server.variant} did not start: {failure}"[:1024]
        prefix = split_s3_uri(source["S3Uri"])[1]
        with ThreadPoolExecutor(max_workers=count) as pool:
            shares = [
                pool.submit(self._feed, run, server, s3, keys[index::count], prefix)
                for index, server in enumerate(run.servers)
            ]
        for share in shares:
            share.result()  # a failure outside any one object (its log stream) ends the job
        if run.stop_requested.is_set():
            return "Stopped", None
        if run.failures:
            return "Failed", (
                f"ClientError: {len(run.failures)} of {len(keys)} objects failed, the first {run.failures[0]}; "
                f"see the data-log streams of {LOG_GROUP}"
            )[:1024]
        return "Completed", None

    def _feed(self, run: TransformRun, server: ModelServer, s3: Any, keys: list[tuple[str, str]], prefix: str) -> None:
        """One instance's share of the objects, MaxConcurrentTransforms at a time."""
        data_log = LogStream(
            self.context.client("logs", run.request.region), LOG_GROUP, f"{server.log_stream}/data-log"
        )
        concurrency = int(run.params.get("MaxConcurrentTransforms") or 1)
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for bucket, key in keys:
                pool.submit(self._transform_object, run, server, s3, bucket, key, prefix, data_log)
        data_log.flush()

    def _transform_object(
        self, run: TransformRun, server: ModelServer, s3: Any, bucket: str, key: str, prefix: str, data_log: LogStream
    ) -> None:
        if run.stop_requested.is_set():
            return
        params = run.params
        uri = f"s3://{bucket}/{key}"
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            limit = int(params.get("MaxPayloadInMB") or 6) * 1024 * 1024
            if len(body) > limit:
                raise _RecordFailed(f"{len(body)} bytes is more than MaxPayloadInMB ({limit // (1024 * 1024)} MB)")
            answer = _invoke(
                server,
                body,
                params["TransformInput"].get("ContentType", "application/octet-stream"),
                params["TransformOutput"].get("Accept", "*/*"),
            )
            out_bucket, out_prefix = split_s3_uri(params["TransformOutput"]["S3OutputPath"])
            relative = key[len(prefix) :].lstrip("/") if key.startswith(prefix) else key.rsplit("/", 1)[-1]
            out_key = f"{out_prefix.rstrip('/')}/{relative}.out".lstrip("/")
            s3.put_object(Bucket=out_bucket, Key=out_key, Body=answer)
        except _RecordFailed as exc:
            with run.lock:
                run.failures.append(f"{uri}: {exc}")
            data_log.write(f"{uri}: ClientError: {exc}")
        except Exception as exc:  # the object, not the job: the others are still transformed
            with run.lock:
                run.failures.append(f"{uri}: {type(exc).__name__}: {exc}")
            data_log.write(f"{uri}: {type(exc).__name__}: {exc}")


class _RecordFailed(Exception):
    """One object was not transformed (the model's error, or too large): named in the data log."""


def _list_objects(s3: Any, uri: str) -> list[tuple[str, str]]:
    """(bucket, key) of every object under an S3Prefix URI, in key order; folder markers left out."""
    bucket, prefix = split_s3_uri(uri)
    found: list[tuple[str, str]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                found.append((bucket, item["Key"]))
            if len(found) >= MAX_OBJECTS:
                return found
    return found


def _invoke(server: ModelServer, body: bytes, content_type: str, accept: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=INVOCATION_TIMEOUT_S)
    try:
        connection.request("POST", "/invocations", body=body, headers={"Content-Type": content_type, "Accept": accept})
        answer = connection.getresponse()
        data = answer.read()
    except OSError as exc:
        raise _RecordFailed(f"the model server did not answer: {exc}") from None
    finally:
        connection.close()
    if answer.status != 200:
        message = data.decode("utf-8", "replace").splitlines()[0] if data else answer.reason
        raise _RecordFailed(f"the model answered {answer.status}: {message}")
    return data
