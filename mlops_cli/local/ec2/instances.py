"""EC2 in the embedded local AWS: an instance launched with the project's bootstrap runs it for real, here.

moto creates the instance; then the user data runs in a background process group in a sandbox
`<state_dir>/ec2/<instance-id>/` with the venv's `aws` and `python` on PATH, `AWS_ENDPOINT_URL` pointing back at
this server (its own credentials stand in for the instance profile), and `MLOPS_WORKDIR` inside the sandbox instead
of the real path. `shutdown` is a shim on PATH that records the request; `shutdown -h now` takes effect when the
script has exited, `shutdown -h +MINUTES` (the bootstrap's runtime cap) at that time whatever the script is doing:
its processes get SIGTERM (then SIGKILL after systemd's stop timeout), as a real shutdown does. Either way the
instance is then stopped or terminated in moto according to its `InstanceInitiatedShutdownBehavior`, with the state
reason AWS gives an instance-initiated shutdown. A local minute lasts 60 / time scale seconds (whole seconds, at
least one; the bootstrap is told with MLOPS_MINUTE_S). Terminating or stopping the instance through the API kills its
bootstrap.

The region's image list also gets one Amazon-owned "Deep Learning OSS Nvidia Driver AMI GPU PyTorch" image (x86_64)
standing in for the real DLAMI, whose software here is this machine's venv; so the DLAMI lookup runs unchanged.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

from mlops_cli.local.core.paths import confined
from mlops_cli.local.core.server import DEFAULT_ACCOUNT, Forward, LocalRequest, LocalResponse, ServerContext
from mlops_cli.local.iam.sessions import role_env
from mlops_cli.local.moto_compat.records import ec2 as ec2_records
from mlops_cli.local.moto_compat.records.iam import instance_profile_role

LOCAL_DLAMI_NAME = "Deep Learning OSS Nvidia Driver AMI GPU PyTorch 2.x (mlops local) 20250101"
DLAMI_OWNER_ID = "898082745236"  # the account AWS publishes the DLAMIs from
KILL_GRACE_S = 5.0
SHUTDOWN_GRACE_S = 90.0  # systemd's DefaultTimeoutStopSec: what a scheduled shutdown gives processes to end
WATCH_S = 1.0  # how often a running bootstrap's shutdown requests are read
# The second line of the bootstrap `mlops train-ec2` sends as user data (its template's marker): the emulator keeps
# its own copy, so a drift on either side fails the local EC2 tests instead of passing unnoticed.
BOOTSTRAP_MARKER = "# mlops train-ec2 bootstrap"
SHUTDOWN_SHIM = """#!/bin/sh
# Local stand-in for shutdown(8): record the request (when, and its arguments); the local AWS stops or terminates
# the instance: for `now` when the bootstrap has exited, for `+MINUTES` at that time.
echo "$(date +%s) $*" >> "$MLOPS_SHUTDOWN_FILE"
"""


def _form(request: LocalRequest) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(request.body.decode("utf-8", "replace")).items()}


def _has_local_dlami(region: str) -> bool:
    return LOCAL_DLAMI_NAME in ec2_records.image_names(DEFAULT_ACCOUNT, region)


def add_local_dlami(data: dict[str, str]) -> None:
    """A change the local AWS journals (its id is drawn from moto's seeded Random, so a replay makes the same)."""
    region = data["region"]
    if _has_local_dlami(region):
        return
    ec2_records.new_ami(
        DEFAULT_ACCOUNT,
        region,
        name=LOCAL_DLAMI_NAME,
        owner_id=DLAMI_OWNER_ID,
        owner_alias="amazon",
        public=True,
        description="mlops local stand-in for the AWS Deep Learning AMI (PyTorch and the AWS CLI from the venv)",
        architecture="x86_64",
        virtualization_type="hvm",
        root_device_type="ebs",
        root_device_name="/dev/sda1",
        region_name=f"{region}a",
        hypervisor="xen",
    )


def shut_down(data: dict[str, str]) -> None:
    """An instance-initiated shutdown: stopped or terminated by its shutdown behaviour (a journaled change)."""
    ec2_records.shut_down_instance(
        DEFAULT_ACCOUNT,
        data["region"],
        data["instance_id"],
        terminate=data["behavior"] == "terminate",
        message="Client.InstanceInitiatedShutdown: Instance initiated shutdown",
        code="Client.InstanceInitiatedShutdown",
    )


def minute_s() -> int:
    """A local minute in whole seconds (the time scale applies: autoscaler.time_scale)."""
    from mlops_cli.local.autoscaling.autoscaler import time_scale

    return max(1, round(60 / time_scale()))


def requested_shutdown(shutdown_file: Path, minute: int) -> tuple[bool, float | None]:
    """What the shim recorded: (`shutdown now` asked, the time a scheduled one is due or None). `-c` cancels a
    scheduled one; a line the shim did not write, or a time given as hh:mm, is ignored."""
    now, due = False, None
    try:
        lines = shutdown_file.read_text().splitlines()
    except FileNotFoundError:
        return False, None
    for line in lines:  # the job's own code could write here too: anything unexpected is skipped
        when, *args = line.split() or [""]
        if not when.isdigit():
            continue
        if "-c" in args:
            due = None
        elif "now" in args or "+0" in args:
            now = True
        elif scheduled := next((a[1:] for a in args if a.startswith("+") and a[1:].isdigit()), None):
            due = int(when) + int(scheduled) * minute
    return now, due


class Bootstraps:
    """The running bootstrap processes, by instance id."""

    def __init__(self, context: ServerContext):
        self.context = context
        self.root = context.state_dir / "ec2"
        self.processes: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()

    def start(self, instance_id: str, region: str, script: str, shutdown_behavior: str, role: str | None) -> None:
        """Run the bootstrap as the instance: with a session of its instance profile's role (`role`), or the
        instance's own keys without one."""
        sandbox = confined(self.root, instance_id)
        bin_dir = sandbox / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        (sandbox / "home").mkdir(exist_ok=True)
        shim = bin_dir / "shutdown"
        shim.write_text(SHUTDOWN_SHIM)
        shim.chmod(0o755)
        user_data = sandbox / "user-data.sh"
        user_data.write_text(script)
        shutdown_file = sandbox / "shutdown-requested"
        shutdown_file.unlink(missing_ok=True)
        venv_bin = Path(sys.executable).parent
        env = self.context.process_env(
            region,
            {
                "PATH": os.pathsep.join([str(bin_dir), str(venv_bin), "/usr/local/bin", "/usr/bin", "/bin"]),
                "HOME": str(sandbox / "home"),
                "LANG": "C.UTF-8",
                "MLOPS_WORKDIR": str(sandbox / "work"),
                "MLOPS_PYTHON": sys.executable,
                "MLOPS_SHUTDOWN_FILE": str(shutdown_file),
                "MLOPS_MINUTE_S": str(minute_s()),
                "OMP_NUM_THREADS": str(len(os.sched_getaffinity(0))),
                "PYTHONUNBUFFERED": "1",
            },
        ) | role_env(self.context, role, instance_id, region)
        with open(sandbox / "console.log", "ab") as console:
            process = subprocess.Popen(
                ["bash", str(user_data)],
                cwd=sandbox,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with self.lock:
            self.processes[instance_id] = process
        threading.Thread(
            target=self._watch,
            args=(instance_id, region, process, shutdown_file, shutdown_behavior),
            name=f"ec2-bootstrap-{instance_id}",
            daemon=True,
        ).start()

    def _watch(
        self, instance_id: str, region: str, process: subprocess.Popen, shutdown_file: Path, shutdown_behavior: str
    ) -> None:
        minute, capped = minute_s(), False
        while process.poll() is None:
            _now, due = requested_shutdown(shutdown_file, minute)
            if due is not None and time.time() >= due:  # the runtime cap: a shutdown, whatever the script does
                self.kill([instance_id], SHUTDOWN_GRACE_S)
                capped = True
                break
            try:
                process.wait(timeout=WATCH_S if due is None else min(WATCH_S, max(0.0, due - time.time())))
            except subprocess.TimeoutExpired:
                pass
        process.wait()
        with self.lock:
            ended_by_itself = self.processes.get(instance_id) is process
            if ended_by_itself:
                del self.processes[instance_id]
        if not (ended_by_itself or capped):
            return  # stopped or terminated through the API: that is its state now
        now, due = requested_shutdown(shutdown_file, minute)
        if not now and due is None:
            return  # like a real instance whose user data ended without shutting down: it keeps running
        if not now and due is not None:  # only the scheduled one: it comes at its time
            time.sleep(max(0.0, due - time.time()))
        self.context.store.call(
            "ec2.shutdown", {"region": region, "instance_id": instance_id, "behavior": shutdown_behavior}
        )

    def kill(self, instance_ids: list[str], grace_s: float = KILL_GRACE_S) -> None:
        """SIGTERM the bootstraps' process groups (bash traps it and records the failure), SIGKILL what is left
        after `grace_s`, as an instance's shutdown does."""
        with self.lock:
            processes = [self.processes.pop(iid) for iid in instance_ids if iid in self.processes]
        for process in processes:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in processes:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()

    def kill_all(self) -> None:
        with self.lock:
            ids = list(self.processes)
        self.kill(ids)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _is_project_bootstrap(script: str) -> bool:
    lines = script.splitlines()
    return len(lines) > 1 and lines[1] == BOOTSTRAP_MARKER


def _instance_ids(form: dict[str, str]) -> list[str]:
    return [value for key, value in sorted(form.items()) if re.fullmatch(r"InstanceId\.\d+", key)]


class Instances:
    """The EC2 calls answered here: the local DLAMI in every region's images, and an instance launched with the
    project's bootstrap running it (stopping or terminating the instance kills it)."""

    def __init__(self, context: ServerContext):
        self.context = context
        self.bootstraps = Bootstraps(context)

    def _ensure_local_dlami(self, region: str) -> None:
        if not _has_local_dlami(region):
            self.context.store.call("ec2.local-dlami", {"region": region})

    def describe_images(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        self._ensure_local_dlami(request.region)
        return forward(request)

    def run_instances(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        self._ensure_local_dlami(request.region)
        response = forward(request)
        form = _form(request)
        if response.status != 200 or "UserData" not in form:
            return response
        script = base64.b64decode(form["UserData"]).decode("utf-8", "replace")
        if not _is_project_bootstrap(script) or form.get("DryRun") == "true":
            return response
        behavior = form.get("InstanceInitiatedShutdownBehavior", "stop")
        profile = form.get("IamInstanceProfile.Arn") or form.get("IamInstanceProfile.Name")
        role = instance_profile_role(request.account, profile) if profile else None  # the instance's credentials
        for instance_id in re.findall(r"<instanceId>(i-[0-9a-f]+)</instanceId>", response.body.decode()):
            self.bootstraps.start(instance_id, request.region, script, behavior, role)
        return response

    def stop_instances(self, request: LocalRequest, forward: Forward) -> LocalResponse:
        """StopInstances and TerminateInstances: moto's answer, and the instances' bootstraps killed."""
        response = forward(request)
        if response.status == 200:
            self.bootstraps.kill(_instance_ids(_form(request)))
        return response
