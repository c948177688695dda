"""Start, stop and check the embedded local AWS server (a background process with a pid file)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlops_cli.errors import OperationError, UsageError
from mlops_cli.local.core import credentials as local_credentials
from mlops_cli.local.core import pidfile, versions
from mlops_cli.local.core.clock import TIME_SCALE_ENV
from mlops_cli.local.core.credentials import instance_dir, mlops_home
from mlops_cli.local.core.faults import CONTROL_PATH, FAULTS_ENV
from mlops_cli.local.core.paths import private_file, private_folder
from mlops_cli.local.core.server import HEALTH_PATH
from mlops_cli.local.core.urls import is_loopback_url
from mlops_cli.local.sagemaker import spot

DEFAULT_LOCAL_URL = "http://127.0.0.1:4599"
START_TIMEOUT_S = 120.0  # a start loads the kept state: seconds for a few thousand objects, more under load
STOP_TIMEOUT_S = 60.0  # a stop writes a snapshot of the state (a stop cut short only means a longer next start)
# In every state folder `local up` makes; `local reset` deletes only a folder that has it.
STATE_MARKER = ".mlops-local-state"


@dataclass
class LocalServer:
    url: str
    running: bool  # something answers the health check on the URL
    pid: int | None  # the server `local up` started, when it still runs (checked by start time and command)
    state_dir: str
    log_file: str
    foreign_pid: int | None = None  # what a listener we did not start says its pid is (never signalled)
    home: str = ""  # the home whose instance this is (its credentials, state and log live under it)

    def to_dict(self) -> dict:
        return asdict(self)


def _paths(url: str, home: Path | None) -> tuple[Path, Path, Path]:
    base = instance_dir(url, home)
    return base / "server.pid", base / "server.log", base / "state"


def _home(home: Path | None) -> str:
    return str((home or mlops_home()).absolute())


def _check_url(url: str | None) -> str:
    url = url or DEFAULT_LOCAL_URL
    parts = urlsplit(url)
    if parts.scheme != "http" or not is_loopback_url(url) or not parts.port:
        raise UsageError(
            f"the local AWS runs on a loopback http URL with a port, not '{url}' "
            "(set aws.endpoint_url: `mlops init --local` writes an mlops.yaml that does)"
        )
    return url


def health(url: str, timeout: float = 1.0) -> dict | None:
    try:
        with urllib.request.urlopen(url + HEALTH_PATH, timeout=timeout) as response:  # noqa: S310 (loopback only)
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _own_pid(pid_file: Path) -> int | None:
    """The pid of the server this MLOPS_HOME started on the port, if that very process still runs."""
    record = pidfile.read(pid_file)
    return record.pid if record and pidfile.alive(record) else None


def status(url: str | None, home: Path | None = None) -> LocalServer:
    url = _check_url(url)
    pid_file, log_file, state_dir = _paths(url, home)
    answer = health(url)
    pid = _own_pid(pid_file)
    foreign = None
    if answer is not None and (pid is None or answer.get("pid") != pid):
        reported = answer.get("pid") if isinstance(answer, dict) else None
        foreign = reported if isinstance(reported, int) and not isinstance(reported, bool) else -1
    return LocalServer(url, answer is not None, pid, str(state_dir), str(log_file), foreign, _home(home))


def _foreign_listener(server: LocalServer) -> OperationError:
    said = f" (it reports pid {server.foreign_pid})" if server.foreign_pid and server.foreign_pid > 0 else ""
    return OperationError(
        f"something this tool did not start listens on {server.url}{said}; it was left alone",
        hint="stop it yourself, or use another port in aws.endpoint_url",
    )


def up(
    url: str | None, time_scale: float = 1.0, faults: list[dict] | None = None, home: Path | None = None
) -> tuple[LocalServer, bool]:
    """Start the server unless it already answers; returns (server, started_now). `time_scale` makes its clock
    (autoscaling periods and cooldowns) run that much faster; `faults` (rules of mlops_cli.local.core.faults) replace
    MLOPS_LOCAL_FAULTS when given."""
    url = _check_url(url)
    problem = versions.mismatch()
    if problem:
        raise UsageError(problem)
    try:
        spot.from_env()  # the server would refuse to start with it: say why before starting one
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    current = status(url, home)
    if current.foreign_pid is not None:
        raise _foreign_listener(current)
    if current.running:
        return current, False
    pid_file, log_file, state_dir = _paths(url, home)
    for folder in (home or mlops_home(), (home or mlops_home()) / "local", instance_dir(url, home)):
        private_folder(folder)  # what it keeps is its user's only
    _ignored_by_git(home or mlops_home())
    _make_state_dir(state_dir)
    local_credentials.ensure(url, home)
    parts = urlsplit(url)
    command = [
        sys.executable,
        "-m",
        "mlops_cli.local.core.server",
        "--host",
        str(parts.hostname),
        "--port",
        str(parts.port),
        "--state-dir",
        str(state_dir),
        "--credentials-file",
        str(local_credentials.path(url, home)),
        "--log-file",
        str(log_file),
    ]
    with os.fdopen(private_file(log_file), "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # None of the caller's AWS settings: the server and what it runs use only the instance's credentials.
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                "PYTHONUNBUFFERED": "1",
                TIME_SCALE_ENV: str(time_scale),
                **({FAULTS_ENV: json.dumps(faults)} if faults else {}),
            },
        )
    pidfile.write(pid_file, process.pid, command)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pid_file.unlink(missing_ok=True)
            tail = log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise OperationError(f"local AWS exited during start-up: {tail[0]} (log: {log_file})")
        if health(url, timeout=0.5):
            return LocalServer(url, True, process.pid, str(state_dir), str(log_file), home=_home(home)), True
        time.sleep(0.1)
    _terminate(process.pid)
    pid_file.unlink(missing_ok=True)
    raise OperationError(f"local AWS did not answer on {url} within {START_TIMEOUT_S:.0f} s (log: {log_file})")


def _ignored_by_git(home: Path) -> None:
    """A project's home holds credentials and state: a `.gitignore` of `*` keeps it out of the project's commits."""
    ignore = home / ".gitignore"
    if not os.path.lexists(ignore):
        with os.fdopen(private_file(ignore), "w") as stream:
            stream.write("# written by `mlops local up`: this folder (credentials, state) is never committed\n*\n")


def _make_state_dir(state_dir: Path) -> None:
    """The folder that keeps the local AWS's state across restarts, marked as made here when it is new."""
    if not state_dir.exists() or (state_dir.is_dir() and not any(state_dir.iterdir())):
        private_folder(state_dir)
        with os.fdopen(private_file(state_dir / STATE_MARKER), "w") as marker:
            marker.write("made by `mlops local up`; `mlops local reset` deletes this folder\n")
    elif (state_dir / STATE_MARKER).is_file():  # made here, maybe by a version that left it readable to all
        private_folder(state_dir)


def reset(url: str | None, home: Path | None = None) -> tuple[LocalServer, bool]:
    """Delete the stopped local AWS's state folder (everything it kept); returns (server, deleted_now). Refuses
    while it runs (its state lives in its memory too) and leaves a folder without the marker alone."""
    url = _check_url(url)
    current = status(url, home)
    if current.running or current.pid is not None:
        raise OperationError(
            f"the local AWS on {url} is running (pid {current.pid}); its state cannot be reset while it runs",
            hint="stop it first with `mlops local down`",
        )
    state_dir = Path(current.state_dir)
    if not state_dir.exists() and not state_dir.is_symlink():
        return current, False
    if state_dir.is_symlink() or not (state_dir / STATE_MARKER).is_file():
        raise OperationError(
            f"{state_dir} has no {STATE_MARKER} marker: `mlops local up` did not make it, so reset leaves it alone"
        )
    shutil.rmtree(state_dir)
    return current, True


def _terminate(pid: int) -> None:
    """SIGTERM the server's process group (its jobs and model servers too), SIGKILL if it lingers."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                break
        except ChildProcessError:
            pass
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def shell_env(url: str | None, region: str, home: Path | None = None) -> dict[str, str]:
    """What points any AWS tool at the local AWS: endpoint, the instance's credentials, region."""
    url = _check_url(url)
    found = local_credentials.load(url, home)
    if found is None:
        raise OperationError(
            f"the local AWS on {url} has no credentials under {_home(home)} yet",
            hint="start it with `mlops local up` (with the same MLOPS_HOME)",
        )
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": found.access_key_id,
        "AWS_SECRET_ACCESS_KEY": found.secret_access_key,
        "AWS_DEFAULT_REGION": region,
    }


def down(url: str | None, home: Path | None = None) -> tuple[LocalServer, bool]:
    """Stop the server this MLOPS_HOME started; returns (server, stopped_now). A listener it did not start
    (or cannot prove it started) is reported, never signalled."""
    url = _check_url(url)
    current = status(url, home)
    pid_file = _paths(url, home)[0]
    if current.pid is None:
        pid_file.unlink(missing_ok=True)
        if current.foreign_pid is not None:
            raise _foreign_listener(current)
        return current, False
    _terminate(current.pid)
    pid_file.unlink(missing_ok=True)
    return LocalServer(url, False, None, current.state_dir, current.log_file, home=current.home), True


def set_faults(url: str | None, rules: list[dict] | None, home: Path | None = None) -> dict:
    """Replace the running local AWS's fault rules (None or []: none); returns what it reports: its rules, the
    calls it counted since and the ones it answered with an error. A signed request, like any other."""
    return _control_faults(url, "PUT" if rules else "DELETE", rules, home)


def fault_report(url: str | None, home: Path | None = None) -> dict:
    """The running local AWS's fault rules, the calls it counted since they were set and those it faulted."""
    return _control_faults(url, "GET", None, home)


def _control_faults(url: str | None, method: str, rules: list[dict] | None, home: Path | None) -> dict:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = _check_url(url)
    found = local_credentials.load(url, home)
    if found is None:
        raise OperationError(f"the local AWS on {url} has no credentials under {_home(home)} yet")
    body = json.dumps(rules).encode() if rules else b""
    request = AWSRequest(method, url + CONTROL_PATH, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(found.access_key_id, found.secret_access_key), "mlops", "us-east-1").add_auth(request)
    prepared = request.prepare()
    call = urllib.request.Request(prepared.url, data=body or None, headers=dict(prepared.headers), method=method)
    try:
        with urllib.request.urlopen(call, timeout=10) as response:  # noqa: S310 (loopback only)
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise OperationError(f"the local AWS refused the fault rules: {exc.read().decode(errors='replace')}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise OperationError(f"cannot reach the local AWS on {url}: {exc}") from None
