"""The process's place in a training run: rank and world from torchrun's environment, the process group (gloo on
CPU, nccl on GPU), the device, threads per process, and the few collectives the loop needs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    threads: int

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def threads_per_process(local_processes: int) -> int:
    """OMP_NUM_THREADS when set, else this machine's cores shared evenly (oversubscription is ~3x slower)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    return max(1, available_cores() // max(1, local_processes))


def start_runtime() -> Runtime:
    """Join the process group when launched by torchrun; pin threads and pick the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    threads = threads_per_process(int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(threads)
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Runtime(rank, world_size, local_rank, device, threads)


def all_reduce_sum(values: list[float], runtime: Runtime) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64, device=runtime.device)
    if runtime.distributed:
        dist.all_reduce(tensor)
    return tensor.tolist()


def all_gather_int(value: int, runtime: Runtime) -> list[int]:
    if not runtime.distributed:
        return [value]
    gathered: list[Any] = [None] * runtime.world_size  # all_gather_object fills it in place
    dist.all_gather_object(gathered, value)
    return [int(v) for v in gathered]


def broadcast_from_main(obj: T, runtime: Runtime) -> T:
    if not runtime.distributed:
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
