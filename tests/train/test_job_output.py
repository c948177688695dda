"""What a followed training job shows on the terminal: the script's lines always, the distributed runtime's own
logging (torchrun's rendezvous, worker groups, exit barrier) only with -v. The lines are torchrun 2.14's own."""

from __future__ import annotations

import pytest

from mlops_cli.common.job_logs import LogLine
from mlops_cli.render import Output
from mlops_cli.render.train import event

RUNTIME_LINES = [
    "I1201 02:03:41.730000 12292 torch/distributed/launcher/api.py:257] Starting elastic_operator with launch configs:",
    "I1201 02:03:41.742000 12292 torch/distributed/elastic/agent/server/api.py:553]   global_world_sizes=[2]",
    "E1201 02:03:45.564000 12292 torch/distributed/elastic/agent/server/api.py:1001] "
    "Traceback (most recent call last):",
    # torch installed in a venv outside the source tree logs its files' absolute paths
    "I1207 16:40:02.118000 4411 /home/me/.venv/lib/python3.11/site-packages/torch/distributed/run.py:811] "
    "Using nproc_per_node=1.",
    "WARNING:torch.distributed.run:Setting OMP_NUM_THREADS environment variable for each process",
]
SCRIPT_LINES = [
    "epoch=1 train_loss=0.4210 valid_loss=0.2100 valid_acc=0.9410",
    "world_size=2 rank=0",
    "launching torchrun: -m torch.distributed.run --nnodes=2",
    "Traceback (most recent call last):",
]


@pytest.mark.parametrize("message", RUNTIME_LINES)
def test_runtime_logging_is_recognised(message):
    assert LogLine("algo-1", 0, message).from_distributed_runtime


@pytest.mark.parametrize("message", SCRIPT_LINES)
def test_script_lines_are_not(message):
    assert not LogLine("algo-1", 0, message).from_distributed_runtime


@pytest.mark.parametrize(("verbosity", "shown"), [(0, False), (1, True)])
def test_runtime_logging_shows_with_verbose_only(capsys, verbosity, shown):
    out = Output("table", verbosity)
    for message in RUNTIME_LINES + SCRIPT_LINES[:1]:
        event(out, LogLine("algo-2", 0, message))
    stderr = capsys.readouterr().err
    assert "epoch=1 train_loss" in stderr
    assert ("torch/distributed/" in stderr) is shown
