"""SageMaker script-mode training entry point (``sagemaker_program=train_sagemaker.py`` or run from the source dir).

Inputs come from the SageMaker environment: the ``training`` channel (``SM_CHANNEL_TRAINING``, holding train/
valid/ test/), ``SM_MODEL_DIR``, ``SM_OUTPUT_DATA_DIR``, ``SM_HOSTS``/``SM_CURRENT_HOST``, ``SM_NUM_GPUS``, and
hyperparameters as ``--name value`` arguments. Checkpoints go to ``MLOPS_CHECKPOINT_DIR`` or, when SageMaker
created it (CheckpointConfig), ``/opt/ml/checkpoints``.

More than one host (or GPU): this script re-executes itself under torchrun, one node per host — nnodes = number
of hosts, node_rank = index of the current host, master = the first host — so an N-instance job is one DDP job,
not N copies. Locally the runner maps the unresolvable ``algo-N`` names to loopback addresses through
``MLOPS_HOST_ADDRESSES``; all those "hosts" then share this machine's cores and the loopback interface.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the folder holding `model/` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model import engine  # noqa: E402
from model.arguments import argument_parser, config_from_args  # noqa: E402
from model.distributed import available_cores  # noqa: E402
from model.hyperparameters import ConfigError  # noqa: E402

DEFAULT_CHECKPOINT_DIR = "/opt/ml/checkpoints"
RESOURCE_CONFIG = "/opt/ml/input/config/resourceconfig.json"
DEFAULT_MASTER_PORT = "29500"


def cluster(env: dict[str, str]) -> tuple[list[str], str]:
    """The job's hosts and this host's name (SM_HOSTS/SM_CURRENT_HOST, else resourceconfig.json)."""
    try:
        if "SM_HOSTS" in env:
            hosts = json.loads(env["SM_HOSTS"])
            current = env.get("SM_CURRENT_HOST", hosts[0] if hosts else "")
        elif os.path.exists(RESOURCE_CONFIG):
            with open(RESOURCE_CONFIG) as stream:
                resource = json.load(stream)
            hosts, current = resource["hosts"], resource["current_host"]
        else:
            return ["algo-1"], "algo-1"
    except (ValueError, KeyError, IndexError) as error:
        raise ConfigError(f"cannot read the SageMaker host list (SM_HOSTS): {error}") from None
    if not isinstance(hosts, list) or not hosts or current not in hosts:
        raise ConfigError(f"SM_CURRENT_HOST {current!r} is not one of SM_HOSTS {hosts!r}")
    return [str(host) for host in hosts], str(current)


def torchrun_command(env: dict[str, str], argv: list[str], script: str) -> tuple[list[str], dict[str, str]] | None:
    """The torchrun re-launch (command, environment) for a multi-host or multi-GPU job; None to train in-process."""
    if "LOCAL_RANK" in env:  # already a torchrun worker
        return None
    hosts, current = cluster(env)
    processes = max(1, int(env.get("SM_NUM_GPUS", "0") or 0))
    if len(hosts) == 1 and processes == 1:
        return None
    try:
        addresses = json.loads(env.get("MLOPS_HOST_ADDRESSES", "{}"))
    except ValueError:
        raise ConfigError("MLOPS_HOST_ADDRESSES is not a JSON object of host -> address") from None
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nnodes={len(hosts)}",
        f"--node-rank={hosts.index(current)}",
        f"--nproc-per-node={processes}",
        f"--master-addr={addresses.get(hosts[0], hosts[0])}",
        f"--master-port={env.get('MLOPS_MASTER_PORT', DEFAULT_MASTER_PORT)}",
        "--max-restarts=0",
    ]
    if current in addresses:
        command.append(f"--local-addr={addresses[current]}")
    child_env = dict(env)
    # Hosts mapped to local addresses are simulated on this machine: they share its cores.
    local_processes = processes * (len(hosts) if addresses else 1)
    child_env.setdefault("OMP_NUM_THREADS", str(max(1, available_cores() // local_processes)))
    if addresses:
        child_env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # keep simulated hosts on the loopback interface
    return [*command, script, *argv], child_env


def run_torchrun(args: list[str], env: dict[str, str]) -> int:
    """`python -m torch.distributed.run ARGS` in this process, with `env`. A SIGTERM (a spot reclaim, a
    StopTrainingJob) ends it in one line and exit 128 + the signal, where torchrun would print a traceback."""
    os.environ.clear()
    os.environ.update(env)
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import main as torchrun

    try:
        torchrun(args)
    except SignalException as exc:
        print(f"torchrun stopped by signal {int(exc.sigval)}, and its workers with it", flush=True)
        return 128 + int(exc.sigval)
    return 0


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argument_parser("SageMaker training entry point (hyperparameters as --name value).")
    config = config_from_args(parser.parse_args(argv))
    env = dict(os.environ)
    if "SM_CHANNEL_TRAINING" not in env:
        raise ConfigError("SM_CHANNEL_TRAINING is not set: the 'training' channel must hold train/ valid/ test/")
    relaunch = torchrun_command(env, argv, str(Path(__file__).resolve()))
    if relaunch is not None:
        command, child_env = relaunch
        print(f"launching torchrun: {' '.join(command[1:])}", flush=True)
        sys.exit(run_torchrun(command[3:], child_env))
    checkpoint_dir = env.get("MLOPS_CHECKPOINT_DIR") or (
        DEFAULT_CHECKPOINT_DIR if os.path.isdir(DEFAULT_CHECKPOINT_DIR) else None
    )
    engine.run_training(
        config,
        data_dir=env["SM_CHANNEL_TRAINING"],
        model_dir=env.get("SM_MODEL_DIR", "/opt/ml/model"),
        output_dir=env.get("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"),
        checkpoint_dir=checkpoint_dir,
    )


if __name__ == "__main__":
    sys.exit(engine.run_entry_point(main))
