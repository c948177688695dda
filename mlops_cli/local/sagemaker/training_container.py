"""A training instance as SageMaker's training container lays it out, and what SageMaker copies in and out of it.

Each instance `algo-N` has its folders under `<state dir>/jobs/<job>/algo-N/` (input/config/*.json,
input/data/<channel>, model, output/data, checkpoints, code), the container's environment contract (SM_HOSTS,
SM_CURRENT_HOST, SM_CHANNEL_<NAME>, SM_MODEL_DIR, ...) and the user hyperparameters as `--name value`. Host names
do not resolve here, so MLOPS_HOST_ADDRESSES gives every host its own loopback address (algo-N -> 127.0.0.N) and
the entry point's torchrun joins them: real DDP. In: the source package, the data channels and the checkpoints;
out: algo-1's model dir to `<output>/<job>/output/model.tar.gz` and every host's checkpoints folder to
CheckpointConfig.S3Uri while the job runs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_cli.local.core.archives import UnsafeArchive, extract_tar
from mlops_cli.local.core.names import InvalidRequest
from mlops_cli.local.core.paths import confined
from mlops_cli.local.logs.streams import LogStream
from mlops_cli.local.s3.uris import split_s3_uri

TAIL_LINES = 40


def to_cmd_args(hyperparameters: dict[str, Any]) -> list[str]:
    """The training toolkit's rule: sorted keys, `--name str(value)`."""
    args: list[str] = []
    for key in sorted(hyperparameters):
        args += [f"--{key}" if len(key) > 1 else f"-{key}", str(hyperparameters[key])]
    return args


class LocalS3:
    """Reads objects straight from the local S3's store. A data channel is thousands of small files, and the
    server fetching them from itself over HTTP costs ~6 ms a file under one GIL (11 s for the digits sample)."""

    def __init__(self, account: str):
        self.account = account

    def keys(self, uri: str) -> list[str]:
        """The object keys under an s3:// prefix, sorted, without folder markers; none if the bucket is missing."""
        from mlops_cli.local.moto_compat.records import s3

        bucket_name, prefix = split_s3_uri(uri)
        names = s3.bucket_keys(self.account, bucket_name) or []
        return sorted(name for name in names if name.startswith(prefix) and not name.endswith("/"))

    def read(self, uri: str) -> bytes:
        from mlops_cli.local.moto_compat.records import s3

        bucket, key = split_s3_uri(uri)
        found = s3.object_body(self.account, bucket, key)
        if found is None:
            raise KeyError(f"{uri} does not exist")
        return found


class JobFailed(Exception):
    """The job failed with this FailureReason."""


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


def unpack_source(s3: LocalS3, source: str, instances: list[Instance]) -> None:
    """The source package (sagemaker_submit_directory) into every instance's code folder."""
    try:
        archive = s3.read(source)
    except Exception as exc:
        raise JobFailed(f"ClientError: cannot download the source package {source}: {exc}") from None
    for instance in instances:
        instance.code.rmdir()  # made empty with the instance; the package becomes a fresh owner-only folder
        try:
            extract_tar(archive, instance.code)
        except UnsafeArchive as exc:
            raise JobFailed(f"ClientError: cannot unpack the source package {source}: {exc}") from None


def download_prefix(
    s3: LocalS3, uri: str, keys: list[str], targets: list[Path], check_stop: Callable[[], None]
) -> None:
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
        check_stop()
        content = s3.read(f"s3://{bucket}/{key}")
        for target in targets:
            path = confined(target, relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)


def download_channel(
    s3: LocalS3, channel: dict[str, Any], instances: list[Instance], region: str, check_stop: Callable[[], None]
) -> None:
    name = channel["ChannelName"]
    source = channel["DataSource"]["S3DataSource"]
    uri = source["S3Uri"]
    keys = s3.keys(uri)
    if not keys:
        bucket = split_s3_uri(uri)[0]
        raise JobFailed(
            f'ClientError: No S3 objects found under S3 URL "{uri}" given in input data source. '
            f"Please ensure that the bucket exists in the selected region ({region}), that "
            f'objects exist under that S3 prefix, and that the role has "s3:ListBucket" '
            f'permissions on bucket "{bucket}".'
        )
    if source.get("S3DataDistributionType") == "ShardedByS3Key":
        count = len(instances)
        for position, instance in enumerate(instances):
            download_prefix(s3, uri, keys[position::count], [confined(instance.data, name)], check_stop)
    else:
        download_prefix(s3, uri, keys, [confined(instance.data, name) for instance in instances], check_stop)


def write_configs(instances: list[Instance], request: dict[str, Any]) -> None:
    hosts = [instance.host for instance in instances]
    channels = {
        channel["ChannelName"]: {
            "TrainingInputMode": channel.get("InputMode", "File"),
            "S3DistributionType": channel["DataSource"]["S3DataSource"].get(
                "S3DataDistributionType", "FullyReplicated"
            ),
        }
        for channel in request.get("InputDataConfig") or []
    }
    for instance in instances:
        resource = {"current_host": instance.host, "hosts": hosts, "network_interface_name": "lo"}
        (instance.config_dir / "resourceconfig.json").write_text(json.dumps(resource))
        (instance.config_dir / "hyperparameters.json").write_text(json.dumps(request.get("HyperParameters") or {}))
        (instance.config_dir / "inputdataconfig.json").write_text(json.dumps(channels))


def container_environment(
    instance: Instance,
    instances: list[Instance],
    request: dict[str, Any],
    hyperparameters: dict[str, Any],
    user_hps: dict[str, Any],
    master_port: int,
    threads: int,
) -> dict[str, str]:
    """The training container's environment contract for one instance, `threads` cores its share."""
    hosts = [each.host for each in instances]
    channels = [channel["ChannelName"] for channel in request.get("InputDataConfig") or []]
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
        "SM_USER_ENTRY_POINT": str(hyperparameters.get("sagemaker_program", "")),
        "SM_MODULE_DIR": str(hyperparameters.get("sagemaker_submit_directory", "")),
        "SM_LOG_LEVEL": str(hyperparameters.get("sagemaker_container_log_level", 20)),
        "SM_NETWORK_INTERFACE_NAME": "lo",
        "MLOPS_HOST_ADDRESSES": json.dumps({each.host: each.address for each in instances}),
        "MLOPS_MASTER_PORT": str(master_port),
        "MLOPS_CHECKPOINT_DIR": str(instance.checkpoints),
        "OMP_NUM_THREADS": str(threads),
        # torchrun then logs its rendezvous result (ranks, world size) in every instance's stream.
        "LOGLEVEL": os.environ.get("LOGLEVEL", "INFO"),
    }
    env.update({f"SM_CHANNEL_{name.upper()}": str(instance.data / name) for name in channels})
    return env


def put_tarball(s3: Any, folder: Path, uri: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    bucket, key = split_s3_uri(uri)
    s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
