"""Training jobs that really run: each job's instances are processes here, driven by a background thread.

moto records the job (and would mark it Completed at once); the runner then drives moto's own job object through
the real lifecycle (training_jobs.py keeps it), so DescribeTrainingJob and ListTrainingJobs answer with true
states:

    InProgress: Starting -> Downloading -> Training -> Uploading -> Completed | Failed | Stopped

and, for a managed spot job that the local AWS interrupts (sagemaker/spot.py says when and why),
Training -> Interrupted -> Starting -> Downloading -> Training again, on fresh instances with the checkpoints
copied back.

Each instance `algo-N` is one process group laid out as SageMaker's training container (training_container.py).
Output goes line by line to CloudWatch Logs (`/aws/sagemaker/TrainingJobs`, stream `<job>/algo-N-<epoch>`),
algo-1's model dir to `<output>/<job>/output/model.tar.gz`, and every host's checkpoints folder is synced to
CheckpointConfig.S3Uri while the job runs (and copied from there into each instance's folder at its start).
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from mlops_cli.common.job_logs import metric_values
from mlops_cli.local.core.names import InvalidRequest
from mlops_cli.local.core.paths import confined
from mlops_cli.local.core.server import ServerContext
from mlops_cli.local.iam.sessions import role_env
from mlops_cli.local.logs.streams import LogStream
from mlops_cli.local.moto_compat.records import sagemaker as records
from mlops_cli.local.sagemaker import spot
from mlops_cli.local.sagemaker.records import utcnow
from mlops_cli.local.sagemaker.script_mode import LOG_GROUP, decode_hyperparameters
from mlops_cli.local.sagemaker.training_container import (
    CheckpointSync,
    Instance,
    JobFailed,
    LocalS3,
    container_environment,
    download_channel,
    download_prefix,
    put_tarball,
    to_cmd_args,
    unpack_source,
    write_configs,
)
from mlops_cli.local.sagemaker.training_jobs import job_folder, save_job, transition

STOP_GRACE_S = 10.0  # SageMaker gives 120 s between SIGTERM and SIGKILL; local jobs are small
POLL_S = 0.2
ERROR_WORDS = ("Error", "Exception", "error:", "Traceback")
STOP_MESSAGES = {  # SecondaryStatus of a Stopped job -> its status message
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Job stopped because it exceeded MaxRuntimeInSeconds",
    "MaxWaitTimeExceeded": "Job stopped because it exceeded MaxWaitTimeInSeconds (waiting for spot capacity "
    "plus training)",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _error_line(lines: list[str]) -> str:
    for line in reversed(lines):
        if any(word in line for word in ERROR_WORDS) and not line.startswith("Traceback"):
            return line.strip()
    return next((line.strip() for line in reversed(lines) if line.strip()), "no output")


class JobStopped(Exception):
    """StopTrainingJob (or max runtime) interrupted a phase."""


class SpotInterrupted(Exception):
    """EC2 took the managed spot instances back (the local AWS's MLOPS_LOCAL_SPOT_INTERRUPTIONS said when)."""

    def __init__(self, interruption: spot.Interruption):
        super().__init__("managed spot instances interrupted")
        self.interruption = interruption


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
        job = records.training_job(account, region, self.name)
        if job is None:  # CreateTrainingJob recorded it before the runner starts
            raise KeyError(f"no training job {self.name}")
        self.job: records.TrainingJob = job
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
        # A restart runs on new instances: the last run's disks are put out of reach at once (a rename) and deleted
        # with the job's folder when it ends, not file by file while the job waits to start again.
        for instance in self.instances:
            instance.root.rename(self.dir / f".reclaimed-{self.interrupted}-{instance.host}")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.instances = [Instance(self.dir, index, count) for index in range(1, count + 1)]
        if self.started_at is None:
            self.started_at = time.time()
            self._transition("Downloading", "Downloading input data", training_start_time=utcnow())
        else:
            self._transition("Downloading", "Downloading input data")
        s3 = LocalS3(self.account)
        source = self.hyperparameters.get("sagemaker_submit_directory")
        if source:
            unpack_source(s3, str(source), self.instances)
        for channel in self.request.get("InputDataConfig") or []:
            self._check_stop()
            download_channel(s3, channel, self.instances, self.region, self._check_stop)
        if self.checkpoint_uri:  # a restarted (spot) job resumes from what its last run saved
            folder = self.checkpoint_uri.rstrip("/") + "/"
            folders = [instance.checkpoints for instance in self.instances]
            download_prefix(s3, folder, s3.keys(folder), folders, self._check_stop)
            if self.checkpoints is None:
                self.checkpoints = CheckpointSync(self.context.client("s3", self.region), self.checkpoint_uri)
            self.checkpoints.restored(folders)
        write_configs(self.instances, self.request)

    def _environment(self, instance: Instance, user_hps: dict[str, Any], master_port: int) -> dict[str, str]:
        # Simulated instances (of this job and of the others running, e.g. a tuning job's parallel trials) share
        # this machine's cores: oversubscribing them is several times slower than splitting them.
        threads = max(1, (os.cpu_count() or 1) // max(len(self.instances), self.running_instances()))
        env = container_environment(
            instance, self.instances, self.request, self.hyperparameters, user_hps, master_port, threads
        )
        role = role_env(self.context, self.request.get("RoleArn"), self.name, self.region)  # the job's own role
        return {**self.context.process_env(self.region, env), **role}

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
        put_tarball(s3, leader.model, f"{base}/model.tar.gz")
        if any(leader.output_data.iterdir()):
            put_tarball(s3, leader.output_data, f"{base}/output.tar.gz")
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
                put_tarball(s3, leader.model, f"{base}/model.tar.gz")
            self._sync_checkpoints(settled=True)
        except Exception as exc:
            print(f"training {self.name}: upload after stop failed: {exc}", file=sys.stderr, flush=True)

    def _finish(self, status: str, secondary: str, message: str, **attributes: Any) -> None:
        end = time.time()
        attributes["training_end_time"] = utcnow()
        if self.started_at is not None:
            # Billable: the time instances ran, without the time waiting for spot capacity (DescribeTrainingJob:
            # managed spot savings = 1 - BillableTimeInSeconds / TrainingTimeInSeconds). Spot capacity costs what
            # on-demand does here, so the savings come from that time alone.
            attributes["training_time_in_seconds"] = max(1, math.ceil(end - self.started_at))
            attributes["billable_time_in_seconds"] = max(1, math.ceil(end - self.started_at - self.idle_s))
        if self.instances:
            leader_metrics = self.instances[0].metrics
            attributes["final_metric_data_list"] = [
                {"MetricName": name, "Value": value, "Timestamp": utcnow()} for name, value in leader_metrics.items()
            ]
        self._transition(secondary, message, status=status, **attributes)

    def _fail(self, reason: str) -> None:
        self._finish("Failed", "Failed", reason[:1024], failure_reason=reason[:1024])


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

    def shutdown(self) -> None:
        with self.lock:
            jobs = list(self.jobs.values())
        for job in jobs:
            if job.thread.is_alive():
                job.stop_requested.set()
                job.kill_processes(grace_s=2.0)
        for job in jobs:
            job.thread.join(timeout=10)
