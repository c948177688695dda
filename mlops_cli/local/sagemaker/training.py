"""Training jobs that really run: CreateTrainingJob executes the entry point here, StopTrainingJob stops it.

moto records the job (and would mark it Completed at once); this hook then drives moto's own job object through
the real lifecycle, so DescribeTrainingJob and ListTrainingJobs answer with true states:

    InProgress: Starting -> Downloading -> Training -> Uploading -> Completed | Failed | Stopped

and, for a managed spot job that the local AWS interrupts (sagemaker/spot.py says when and why),
Training -> Interrupted -> Starting -> Downloading -> Training again, on fresh instances with the checkpoints
copied back.

Each instance `algo-N` is one process group with a SageMaker-like layout under
`<state dir>/jobs/<job>/algo-N/` (input/config/*.json, input/data/<channel>, model, output/data, checkpoints,
code), the container's environment contract (SM_HOSTS, SM_CURRENT_HOST, SM_CHANNEL_<NAME>, SM_MODEL_DIR, ...)
and the user hyperparameters as `--name value`. Host names do not resolve here, so MLOPS_HOST_ADDRESSES gives
every host its own loopback address (algo-N -> 127.0.0.N) and the entry point's torchrun joins them: real DDP.
Output goes line by line to CloudWatch Logs (`/aws/sagemaker/TrainingJobs`, stream `<job>/algo-N-<epoch>`),
algo-1's model dir to `<output>/<job>/output/model.tar.gz`, and every host's checkpoints folder is synced to
CheckpointConfig.S3Uri while the job runs (and copied from there into each instance's folder at its start).
"""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_cli.local.core.names import InvalidRequest
from mlops_cli.local.core.paths import confined
from mlops_cli.local.core.server import Forward, LocalRequest, LocalResponse, ServerContext
from mlops_cli.local.logs.streams import LogStream
from mlops_cli.local.s3.uris import split_s3_uri
from mlops_cli.local.sagemaker import spot
from mlops_cli.local.sagemaker.script_mode import LOG_GROUP, decode_hyperparameters, metric_values

STOP_GRACE_S = 10.0  # SageMaker gives 120 s between SIGTERM and SIGKILL; local jobs are small
POLL_S = 0.2
TAIL_LINES = 40
ERROR_WORDS = ("Error", "Exception", "error:", "Traceback")
STOP_MESSAGES = {  # SecondaryStatus of a Stopped job -> its status message
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Job stopped because it exceeded MaxRuntimeInSeconds",
    "MaxWaitTimeExceeded": "Job stopped because it exceeded MaxWaitTimeInSeconds (waiting for spot capacity "
    "plus training)",
}


class TrainingJobs:
    """CreateTrainingJob runs the job here (moto keeps its record); StopTrainingJob stops it."""

    def __init__(self, context: ServerContext):
        try:
            interruptions = spot.from_env()
        except ValueError as exc:  # the server does not start: `mlops local up` shows this line
            raise SystemExit(f"local AWS: {exc}") from None
        self.context = context
        self.runner = LocalTrainingRunner(context, interruptions)

    def create(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        params = request.json()
        name = params.get("TrainingJobName", "")
        job_dir = job_folder(self.context, name)
        for channel in params.get("InputDataConfig") or []:
            confined(job_dir, channel.get("ChannelName", ""))  # "." and ".." fit ChannelName's pattern
        if name in _backend(request.account, request.region).training_jobs:
            return LocalResponse.aws_error(
                "ResourceInUse",
                f"Training job names must be unique within an AWS "
                f"account and region, and a training job with this "
                f"name already exists ({name})",
            )
        response = forward(request)
        if response.status == 200:
            self.runner.start(request.account, request.region, params)
        return response

    def stop(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        return self.runner.stop(request.account, request.region, request.json().get("TrainingJobName", ""))


def job_folder(context: ServerContext, name: str) -> Path:
    return confined(context.state_dir / "jobs", name)


def _backend(account: str, region: str) -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.backend("sagemaker", account, region)


def _now() -> Any:
    from mlops_cli.local import moto_compat

    return moto_compat.utcnow()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def to_cmd_args(hyperparameters: dict[str, Any]) -> list[str]:
    """The training toolkit's rule: sorted keys, `--name str(value)`."""
    args: list[str] = []
    for key in sorted(hyperparameters):
        args += [f"--{key}" if len(key) > 1 else f"-{key}", str(hyperparameters[key])]
    return args


def _error_line(lines: list[str]) -> str:
    for line in reversed(lines):
        if any(word in line for word in ERROR_WORDS) and not line.startswith("Traceback"):
            return line.strip()
    return next((line.strip() for line in reversed(lines) if line.strip()), "no output")


class LocalS3:
    """Reads objects straight from the local S3's store. A data channel is thousands of small files, and the
    server fetching them from itself over HTTP costs ~6 ms a file under one GIL (11 s for the digits sample)."""

    def __init__(self, account: str):
        from mlops_cli.local import moto_compat

        self.account = account
        self.backend = moto_compat.backend("s3", account, "aws")

    def keys(self, uri: str) -> list[str]:
        """The object keys under an s3:// prefix, sorted, without folder markers; none if the bucket is missing."""
        from mlops_cli.local import moto_compat

        bucket_name, prefix = split_s3_uri(uri)
        names = moto_compat.bucket_keys(self.account, bucket_name) or []
        return sorted(name for name in names if name.startswith(prefix) and not name.endswith("/"))

    def read(self, uri: str) -> bytes:
        bucket, key = split_s3_uri(uri)
        found = self.backend.get_object(bucket, key)
        if found is None:
            raise KeyError(f"{uri} does not exist")
        return found.value


class JobStopped(Exception):
    """StopTrainingJob (or max runtime) interrupted a phase."""


class JobFailed(Exception):
    """The job failed with this FailureReason."""


class SpotInterrupted(Exception):
    """EC2 took the managed spot instances back (the local AWS's MLOPS_LOCAL_SPOT_INTERRUPTIONS said when)."""

    def __init__(self, interruption: spot.Interruption):
        super().__init__("managed spot instances interrupted")
        self.interruption = interruption


class CheckpointSync:
    """Every host's checkpoints folder -> CheckpointConfig.S3Uri while the job runs, as SageMaker syncs it. A file
    goes up once it is complete (unchanged since the previous look, or the run is over) and again whenever it
    changes, read through one open handle (a checkpoint replaced meanwhile cannot mix into it). Hidden files (a
    checkpoint being written under a temporary name) and symlinks (they may point anywhere on this machine) stay
    local. Every host writes to the same prefix, as on SageMaker."""

    def __init__(self, s3: Any, uri: str):
        self.s3 = s3
        self.bucket, self.prefix = split_s3_uri(uri.rstrip("/") + "/")
        self.seen: dict[Path, tuple[int, int]] = {}
        self.sent: dict[Path, tuple[int, int]] = {}

    @staticmethod
    def _files(folders: list[Path]) -> list[tuple[Path, str, tuple[int, int]]]:
        found = []
        for folder in folders:
            for path in sorted(folder.rglob("*")):
                relative = path.relative_to(folder)
                if path.is_symlink() or any(part.startswith(".") for part in relative.parts):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:  # renamed or deleted meanwhile
                    continue
                if path.is_file():
                    found.append((path, relative.as_posix(), (stat.st_size, stat.st_mtime_ns)))
        return found

    def restored(self, folders: list[Path]) -> None:
        """What was just copied down from the checkpoint URI is there already."""
        for path, _, signature in self._files(folders):
            self.seen[path] = self.sent[path] = signature

    def sync(self, folders: list[Path], settled: bool = False) -> int:
        """Upload what is new or changed and complete (everything when `settled`); how many files went up."""
        uploaded = 0
        for path, relative, signature in self._files(folders):
            previous, self.seen[path] = self.seen.get(path), signature
            if self.sent.get(path) == signature or (previous != signature and not settled):
                continue
            try:
                with open(path, "rb") as handle:
                    self.s3.upload_fileobj(handle, self.bucket, self.prefix + relative)
            except FileNotFoundError:
                continue
            self.sent[path] = signature
            uploaded += 1
        return uploaded


class Instance:
    """One simulated training instance: its folders, its process group, its log stream."""

    def __init__(self, job_dir: Path, index: int, count: int):
        self.host = f"algo-{index}"
        self.address = f"127.0.0.{index}"
        self.root = job_dir / self.host
        self.code = self.root / "code"
        self.config_dir = self.root / "input" / "config"
        self.data = self.root / "input" / "data"
        self.model = self.root / "model"
        self.output = self.root / "output"
        self.output_data = self.output / "data"
        self.checkpoints = self.root / "checkpoints"
        for folder in (self.code, self.config_dir, self.data, self.model, self.output_data, self.checkpoints):
            folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.reader: threading.Thread | None = None
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.metrics: dict[str, float] = {}
        self.log: LogStream | None = None


class LocalTrainingJob:
    """Runs one training job in a background thread and keeps moto's job object up to date."""

    def __init__(
        self,
        context: ServerContext,
        account: str,
        region: str,
        request: dict[str, Any],
        running_instances: Callable[[], int] = lambda: 1,
        interruptions: list[spot.Interruption] | None = None,
    ):
        self.context = context
        self.account = account
        self.region = region
        self.request = request
        self.running_instances = running_instances  # of every job running here: they share this machine's cores
        self.name: str = request["TrainingJobName"]
        self.job = _backend(account, region).training_jobs[self.name]
        self.dir = job_folder(context, self.name)
        self.stop_requested = threading.Event()
        self.stop_reason = "Stopped"  # or MaxRuntimeExceeded, MaxWaitTimeExceeded (STOP_MESSAGES)
        self.instances: list[Instance] = []
        self.created_at = time.time()
        self.started_at: float | None = None
        limits = request.get("StoppingCondition") or {}
        self.max_runtime_s = limits.get("MaxRuntimeInSeconds")
        self.spot = bool(request.get("EnableManagedSpotTraining"))
        # Only a managed spot job waits for capacity and can be interrupted; MaxWaitTimeInSeconds bounds both.
        self.max_wait_s = limits.get("MaxWaitTimeInSeconds") if self.spot else None
        self.interruptions = list(interruptions or []) if self.spot else []
        self.interrupted = 0  # runs interrupted so far
        self.idle_s = 0.0  # time without instances (interrupted, waiting for spot capacity): not billable
        self.run_started = 0.0
        self.stream_epoch = 0
        self.checkpoint_uri: str | None = (request.get("CheckpointConfig") or {}).get("S3Uri")
        self.checkpoints: CheckpointSync | None = None
        self.thread = threading.Thread(target=self.run, name=f"training-{self.name}", daemon=True)
        self.hyperparameters = decode_hyperparameters(request.get("HyperParameters") or {})
        # moto replaces the metric definitions with a fixed sample; the job keeps the ones it was given.
        self._save(
            algorithm_specification=dict(request.get("AlgorithmSpecification") or {}),
            training_job_status="InProgress",
            secondary_status_transitions=[],
            final_metric_data_list=[],
            training_start_time=None,
            training_end_time=None,
        )
        self._transition("Starting", "Launching requested ML instances")

    # --- state shown by DescribeTrainingJob ---

    def _save(self, **attributes: Any) -> None:
        """Change moto's job record, durably (the local AWS's journal)."""
        save_job(self.context, self.account, self.region, self.name, attributes)

    def _transition(self, secondary: str, message: str, status: str | None = None, **attributes: Any) -> None:
        self._save(**transition(self.job, secondary, message, status), **attributes)

    def request_stop(self) -> None:
        self._transition("Stopping", "Stopping the training job", status="Stopping")
        self.stop_requested.set()

    # --- the job ---

    def run(self) -> None:
        try:
            while True:
                self._download()
                try:
                    self._train()
                    break
                except SpotInterrupted as interrupted:
                    self._await_capacity(interrupted.interruption)
            self._upload()
            self._finish("Completed", "Completed", "Training job completed")
        except JobStopped:
            self._upload_after_stop()
            self._finish("Stopped", self.stop_reason, STOP_MESSAGES[self.stop_reason])
        except JobFailed as failure:
            self._fail(str(failure))
        except Exception as exc:  # the local runner itself broke: report it as SageMaker would, as a failure
            self._fail(f"InternalServerError: local runner: {type(exc).__name__}: {exc}")
        finally:
            self._flush_logs()
            shutil.rmtree(self.dir, ignore_errors=True)

    def _check_stop(self) -> None:
        if self.stop_requested.is_set():
            raise JobStopped()

    def _check_limits(self) -> None:
        """MaxRuntimeInSeconds counts the time instances ran; a spot job's MaxWaitTimeInSeconds counts from its
        creation, waiting for capacity included (StoppingCondition, SageMaker API Reference). Past either, the job
        stops."""
        now = time.time()
        if self.max_runtime_s and self.started_at and now - self.started_at - self.idle_s > self.max_runtime_s:
            self.stop_reason = "MaxRuntimeExceeded"
            self.stop_requested.set()
        if self.max_wait_s and now - self.created_at > self.max_wait_s:
            self.stop_reason = "MaxWaitTimeExceeded"
            self.stop_requested.set()

    def _download(self) -> None:
        self._check_stop()
        count = int(self.request["ResourceConfig"]["InstanceCount"])
        for instance in self.instances:  # a restart runs on new instances: nothing of the last run's disks is left
            shutil.rmtree(instance.root, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.instances = [Instance(self.dir, index, count) for index in range(1, count + 1)]
        if self.started_at is None:
            self.started_at = time.time()
            self._transition("Downloading", "Downloading input data", training_start_time=_now())
        else:
            self._transition("Downloading", "Downloading input data")
        s3 = LocalS3(self.account)
        source = self.hyperparameters.get("sagemaker_submit_directory")
        if source:
            try:
                archive = s3.read(str(source))
            except Exception as exc:
                raise JobFailed(f"ClientError: cannot download the source package {source}: {exc}") from None
            for instance in self.instances:
                try:  # the "data" filter refuses members outside the code folder, links out of it, devices
                    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
                        tar.extractall(instance.code, filter="data")
                except (tarfile.TarError, EOFError, OSError) as exc:
                    raise JobFailed(f"ClientError: cannot unpack the source package {source}: {exc}") from None
        for channel in self.request.get("InputDataConfig") or []:
            self._check_stop()
            self._download_channel(s3, channel)
        if self.checkpoint_uri:  # a restarted (spot) job resumes from what its last run saved
            folder = self.checkpoint_uri.rstrip("/") + "/"
            folders = [instance.checkpoints for instance in self.instances]
            self._download_prefix(s3, folder, s3.keys(folder), folders)
            if self.checkpoints is None:
                self.checkpoints = CheckpointSync(self.context.client("s3", self.region), self.checkpoint_uri)
            self.checkpoints.restored(folders)
        self._write_configs()

    def _download_prefix(self, s3: LocalS3, uri: str, keys: list[str], targets: list[Path]) -> None:
        """Each object to its key's path below the prefix. A key whose '..' segments would leave the folder fails
        the job before anything is written (SageMaker writes such a key literally, climbing out of the channel's
        folder inside its container; here that folder is on the user's machine)."""
        bucket, prefix = split_s3_uri(uri)
        relatives = [key[len(prefix) :].lstrip("/") for key in keys]
        for key, relative in zip(keys, relatives, strict=True):
            for target in targets:
                try:
                    confined(target, relative)
                except InvalidRequest:
                    raise JobFailed(
                        f"ClientError: the S3 object s3://{bucket}/{key} under {uri} would be written "
                        f"outside its folder ({target.name}/); the local AWS refuses keys with '..' "
                        "segments"
                    ) from None
        for key, relative in zip(keys, relatives, strict=True):
            self._check_stop()
            content = s3.read(f"s3://{bucket}/{key}")
            for target in targets:
                path = confined(target, relative)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)

    def _download_channel(self, s3: LocalS3, channel: dict[str, Any]) -> None:
        name = channel["ChannelName"]
        source = channel["DataSource"]["S3DataSource"]
        uri = source["S3Uri"]
        keys = s3.keys(uri)
        if not keys:
            bucket = split_s3_uri(uri)[0]
            raise JobFailed(
                f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
                f"Please ensure that the bucket exists in the selected region ({self.region}), that "
                f'objects exist under that S3 prefix, and that the role has "s3:ListBucket" '
                f'permissions on bucket "{bucket}".'
            )
        if source.get("S3DataDistributionType") == "ShardedByS3Key":
            count = len(self.instances)
            for position, instance in enumerate(self.instances):
                self._download_prefix(s3, uri, keys[position::count], [confined(instance.data, name)])
        else:
            self._download_prefix(s3, uri, keys, [confined(instance.data, name) for instance in self.instances])

    def _write_configs(self) -> None:
        hosts = [instance.host for instance in self.instances]
        channels = {
            channel["ChannelName"]: {
                "TrainingInputMode": channel.get("InputMode", "File"),
                "S3DistributionType": channel["DataSource"]["S3DataSource"].get(
                    "S3DataDistributionType", "FullyReplicated"
                ),
            }
            for channel in self.request.get("InputDataConfig") or []
        }
        for instance in self.instances:
            resource = {"current_host": instance.host, "hosts": hosts, "network_interface_name": "lo"}
            (instance.config_dir / "resourceconfig.json").write_text(json.dumps(resource))
            (instance.config_dir / "hyperparameters.json").write_text(
                json.dumps(self.request.get("HyperParameters") or {})
            )
            (instance.config_dir / "inputdataconfig.json").write_text(json.dumps(channels))

    def _environment(self, instance: Instance, user_hps: dict[str, Any], master_port: int) -> dict[str, str]:
        hosts = [each.host for each in self.instances]
        channels = [channel["ChannelName"] for channel in self.request.get("InputDataConfig") or []]
        # Simulated instances (of this job and of the others running, e.g. a tuning job's parallel trials) share
        # this machine's cores: oversubscribing them is several times slower than splitting them.
        threads = max(1, (os.cpu_count() or 1) // max(len(self.instances), self.running_instances()))
        env = {
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(instance.code),
            "SM_HOSTS": json.dumps(hosts),
            "SM_CURRENT_HOST": instance.host,
            "SM_NUM_GPUS": "0",
            "SM_NUM_CPUS": str(threads),
            "SM_CHANNELS": json.dumps(channels),
            "SM_MODEL_DIR": str(instance.model),
            "SM_OUTPUT_DIR": str(instance.output),
            "SM_OUTPUT_DATA_DIR": str(instance.output_data),
            "SM_INPUT_DIR": str(instance.root / "input"),
            "SM_INPUT_CONFIG_DIR": str(instance.config_dir),
            "SM_HPS": json.dumps(user_hps),
            "SM_USER_ENTRY_POINT": str(self.hyperparameters.get("sagemaker_program", "")),
            "SM_MODULE_DIR": str(self.hyperparameters.get("sagemaker_submit_directory", "")),
            "SM_LOG_LEVEL": str(self.hyperparameters.get("sagemaker_container_log_level", 20)),
            "SM_NETWORK_INTERFACE_NAME": "lo",
            "MLOPS_HOST_ADDRESSES": json.dumps({each.host: each.address for each in self.instances}),
            "MLOPS_MASTER_PORT": str(master_port),
            "MLOPS_CHECKPOINT_DIR": str(instance.checkpoints),
            "OMP_NUM_THREADS": str(threads),
            # torchrun then logs its rendezvous result (ranks, world size) in every instance's stream.
            "LOGLEVEL": os.environ.get("LOGLEVEL", "INFO"),
        }
        env.update({f"SM_CHANNEL_{name.upper()}": str(instance.data / name) for name in channels})
        return self.context.process_env(self.region, env)

    def _train(self) -> None:
        self._check_stop()
        self._transition("Training", "Training image download completed. Training in progress.")
        program = str(self.hyperparameters.get("sagemaker_program", ""))
        try:
            found = program and confined(self.instances[0].code, program).is_file()
        except InvalidRequest:
            found = False  # the entry point is a file inside the source package, never elsewhere
        if not found:
            raise JobFailed(f"AlgorithmError: entry point '{program}' not found in sagemaker_submit_directory")
        user_hps = {key: value for key, value in self.hyperparameters.items() if not key.startswith("sagemaker_")}
        command = [sys.executable, program, *to_cmd_args(user_hps)]
        logs = self.context.client("logs", self.region)
        master_port = _free_port()
        self.stream_epoch = max(int(time.time()), self.stream_epoch + 1)  # a restarted run gets new streams
        self.run_started = time.time()
        for instance in self.instances:
            instance.log = LogStream(logs, LOG_GROUP, f"{self.name}/{instance.host}-{self.stream_epoch}")
            instance.log.write(f"mlops local: {instance.host} ({instance.address}) invoking: {' '.join(command[1:])}")
            instance.process = subprocess.Popen(
                command,
                cwd=instance.code,
                env=self._environment(instance, user_hps, master_port),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            instance.reader = threading.Thread(target=self._read_output, args=(instance,), daemon=True)
            instance.reader.start()
        self._wait()

    def _read_output(self, instance: Instance) -> None:
        assert instance.process is not None and instance.process.stdout is not None and instance.log is not None
        definitions = self.job.algorithm_specification.get("MetricDefinitions") or []
        for raw in iter(instance.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            instance.tail.append(line)
            instance.metrics.update(metric_values(line, definitions))
            instance.log.write(line)

    def _wait(self) -> None:
        checkpointed = False  # a checkpoint of this run has reached the checkpoint URI
        while True:
            polled = [(instance, instance.process.poll()) for instance in self.instances if instance.process]
            codes = [code for _, code in polled]
            failed = next((instance for instance, code in polled if code not in (None, 0)), None)
            if failed is not None:
                self.kill_processes()
                self._join_readers()
                self._flush_logs()
                assert failed.process is not None
                raise JobFailed(
                    f"AlgorithmError: ExecuteUserScriptError: ExitCode {failed.process.returncode} "
                    f'ErrorMessage "{_error_line(list(failed.tail))}" ({failed.host})'
                )
            if all(code == 0 for code in codes):
                self._join_readers()
                self._flush_logs()  # every line is in CloudWatch before the next status shows
                return
            self._check_limits()
            if self.stop_requested.is_set():
                self.kill_processes()
                self._join_readers()
                self._flush_logs()
                raise JobStopped()
            checkpointed = self._sync_checkpoints() > 0 or checkpointed
            interruption = self.interruptions[self.interrupted] if self.interrupted < len(self.interruptions) else None
            if interruption is not None and interruption.due(time.time() - self.run_started, checkpointed):
                # EC2 reclaims the instances after its notice; what they had checkpointed is in S3.
                self.kill_processes(grace_s=spot.NOTICE_S)
                self._join_readers()
                self._flush_logs()
                self._sync_checkpoints(settled=True)
                raise SpotInterrupted(interruption)
            self._flush_logs()
            time.sleep(POLL_S)

    def _sync_checkpoints(self, settled: bool = False) -> int:
        if self.checkpoints is None:
            return 0
        return self.checkpoints.sync([instance.checkpoints for instance in self.instances], settled)

    def _await_capacity(self, interruption: spot.Interruption) -> None:
        """Interrupted until spot capacity returns (or MaxWaitTimeInSeconds passes, or StopTrainingJob), then the
        job starts again; the time between is not billable."""
        interrupted_at = time.time()
        self.interrupted += 1
        self._transition(
            "Interrupted",
            "Training job interrupted: the managed spot instances were reclaimed. It starts again when spot "
            "capacity is available, with its checkpoints copied back.",
        )
        while time.time() - interrupted_at < interruption.capacity_wait_s:
            self._check_limits()
            self._check_stop()
            time.sleep(POLL_S)
        self.idle_s += time.time() - interrupted_at
        self._transition(
            "Starting", f"Launching requested ML instances (restart {self.interrupted} after a spot interruption)"
        )

    def _join_readers(self) -> None:
        for instance in self.instances:
            if instance.reader:
                instance.reader.join(timeout=5)

    def _flush_logs(self) -> None:
        for instance in self.instances:
            if instance.log:
                instance.log.flush()

    def kill_processes(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM every instance's process group, SIGKILL what is left after the grace period."""
        running = [
            instance.process for instance in self.instances if instance.process and instance.process.poll() is None
        ]
        for process in running:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in running:
            _signal_group(process.pid, signal.SIGKILL)  # the group's torchrun workers too
            process.wait()

    def _upload(self) -> None:
        self._check_stop()
        self._transition("Uploading", "Uploading generated training model")
        s3 = self.context.client("s3", self.region)
        leader = self.instances[0]  # rank 0 (algo-1) writes the model dir
        base = f"{self.request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{self.name}/output"
        self._put_tarball(s3, leader.model, f"{base}/model.tar.gz")
        if any(leader.output_data.iterdir()):
            self._put_tarball(s3, leader.output_data, f"{base}/output.tar.gz")
        self._sync_checkpoints(settled=True)

    def _upload_after_stop(self) -> None:
        """A stopped job keeps what it saved: the model dir if written, and the checkpoints."""
        if not self.instances:
            return
        try:
            s3 = self.context.client("s3", self.region)
            leader = self.instances[0]
            if any(leader.model.iterdir()):
                base = f"{self.request['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{self.name}/output"
                self._put_tarball(s3, leader.model, f"{base}/model.tar.gz")
            self._sync_checkpoints(settled=True)
        except Exception as exc:
            print(f"training {self.name}: upload after stop failed: {exc}", file=sys.stderr, flush=True)

    @staticmethod
    def _put_tarball(s3: Any, folder: Path, uri: str) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(folder.rglob("*")):
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
        bucket, key = split_s3_uri(uri)
        s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())

    def _finish(self, status: str, secondary: str, message: str, **attributes: Any) -> None:
        end = time.time()
        attributes["training_end_time"] = _now()
        if self.started_at is not None:
            # Billable: the time instances ran, without the time waiting for spot capacity (DescribeTrainingJob:
            # managed spot savings = 1 - BillableTimeInSeconds / TrainingTimeInSeconds). Spot capacity costs what
            # on-demand does here, so the savings come from that time alone.
            attributes["training_time_in_seconds"] = max(1, math.ceil(end - self.started_at))
            attributes["billable_time_in_seconds"] = max(1, math.ceil(end - self.started_at - self.idle_s))
        if self.instances:
            leader_metrics = self.instances[0].metrics
            attributes["final_metric_data_list"] = [
                {"MetricName": name, "Value": value, "Timestamp": _now()} for name, value in leader_metrics.items()
            ]
        self._transition(secondary, message, status=status, **attributes)

    def _fail(self, reason: str) -> None:
        self._finish("Failed", "Failed", reason[:1024], failure_reason=reason[:1024])


def transition(job: Any, secondary: str, message: str, status: str | None) -> dict[str, Any]:
    """The changes to moto's job record for a new secondary status (and status, if given), as SageMaker shows
    them: the previous transition ends now, the new one starts (and ends, if final)."""
    now = _now()
    transitions = [dict(entry) for entry in job.secondary_status_transitions or []]
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    entry = {"Status": secondary, "StartTime": now, "StatusMessage": message}
    if status in ("Completed", "Failed", "Stopped"):
        entry["EndTime"] = now
    transitions.append(entry)
    changes = {"secondary_status_transitions": transitions, "secondary_status": secondary, "last_modified_time": now}
    if status:
        changes["training_job_status"] = status
    return changes


def save_job(context: ServerContext, account: str, region: str, name: str, attributes: dict[str, Any]) -> None:
    context.store.call(
        "moto.set", {"path": ("sagemaker", account, region, "training_jobs", name), "attributes": attributes}
    )


def fail_interrupted_jobs(context: ServerContext) -> None:
    """After a restart: a job that was running when the local AWS stopped or crashed has lost its processes.
    SageMaker never leaves a job hanging: it is Failed, with the reason."""
    from mlops_cli.local import moto_compat

    reason = "InternalServerError: the local AWS restarted while the job was running"
    for account, region, backend in moto_compat.backends("sagemaker"):
        for name, job in list(backend.training_jobs.items()):
            if job.training_job_status in ("InProgress", "Stopping"):
                save_job(
                    context,
                    account,
                    region,
                    name,
                    {
                        **transition(job, "Failed", reason, "Failed"),
                        "failure_reason": reason,
                        "training_end_time": _now(),
                    },
                )
    shutil.rmtree(context.state_dir / "jobs", ignore_errors=True)  # their work folders (this hook made them)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class LocalTrainingRunner:
    """The jobs this server runs, by name."""

    def __init__(self, context: ServerContext, interruptions: list[spot.Interruption] | None = None):
        self.context = context
        self.interruptions = interruptions or []  # of every managed spot job (spot.py)
        self.jobs: dict[str, LocalTrainingJob] = {}
        self.lock = threading.Lock()

    def start(self, account: str, region: str, request: dict[str, Any]) -> None:
        job = LocalTrainingJob(self.context, account, region, request, self.running_instances, self.interruptions)
        with self.lock:
            self.jobs[job.name] = job
        job.thread.start()

    def running_instances(self) -> int:
        with self.lock:
            jobs = list(self.jobs.values())
        return sum(
            int((job.request.get("ResourceConfig") or {}).get("InstanceCount", 1))
            for job in jobs
            if job.thread.is_alive()
        )

    def stop(self, account: str, region: str, name: str) -> LocalResponse:
        training_jobs = _backend(account, region).training_jobs
        if name not in training_jobs:
            return LocalResponse.aws_error("ValidationException", "Requested resource not found.")
        status = training_jobs[name].training_job_status
        job = self.jobs.get(name)
        if status != "InProgress" or job is None:
            return LocalResponse.aws_error(
                "ValidationException", f"The request was rejected because the training job is in status {status}."
            )
        job.request_stop()
        return LocalResponse.json({})

    def shutdown(self) -> None:
        with self.lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            if job.thread.is_alive():
                job.stop_requested.set()
                job.kill_processes(grace_s=2.0)
        for job in jobs:
            job.thread.join(timeout=10)
