"""Data-parallel training the standard PyTorch way: ``torchrun`` starts the processes,
``torch.distributed`` connects them (gloo on CPU, NCCL on GPU), DistributedDataParallel averages
the gradients. This module holds the few collective steps the trainer adds on top:

- :func:`setup` joins the process group that torchrun's environment describes (RANK, WORLD_SIZE,
  LOCAL_RANK, MASTER_ADDR/PORT) and returns this process's :class:`Shard`;
- :func:`agree` makes every rank take the same decision (stop on a signal, save now, the time
  budget is spent), so that no rank waits forever in a collective the others skipped;
- :func:`sum_values` adds validation statistics over the ranks; :func:`gather` collects per-rank
  state (RNG states, carried states) on every rank for a checkpoint.

With one process none of these communicate.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.distributed_c10d as c10d

from .task import Shard

_LEFT_KEY = "rnnkit/ranks-left"       # counts the ranks that have left the process group


def environment_shard() -> Shard:
    """The shard torchrun's environment variables describe (rank 0 of 1 without them)."""
    return Shard(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))


def setup(device: torch.device) -> Shard:
    """Join the process group of a torchrun launch (no-op for one process); returns this rank's shard."""
    shard = environment_shard()
    if shard.world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return active_shard()


def active_shard() -> Shard:
    """Rank and world size of the initialised process group, else rank 0 of 1."""
    if dist.is_available() and dist.is_initialized():
        return Shard(dist.get_rank(), dist.get_world_size())
    return Shard()


def _device() -> torch.device:
    """Where this backend's collectives take tensors: NCCL only on the current GPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def agree(values: list[float]) -> list[float]:
    """The elementwise maximum of ``values`` over the ranks (flags: any rank's 1 wins)."""
    if active_shard().world_size == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


def sum_values(values: dict[str, float]) -> dict[str, float]:
    """``values`` added over the ranks (every rank must pass the same keys)."""
    if active_shard().world_size == 1:
        return values
    names = sorted(values)
    tensor = torch.tensor([float(values[name]) for name in names], dtype=torch.float64, device=_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return dict(zip(names, tensor.tolist()))


def gather(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order, on every rank."""
    if active_shard().world_size == 1:
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def barrier() -> None:
    if active_shard().world_size > 1:
        dist.barrier()


def finish(timeout: float = 60.0) -> None:
    """Leave the process group once every rank is done, the rank that hosts the rendezvous store last.

    A rank that exits while its peers still talk to it can make their backend abort; and when rank 0
    hosts the TCP store (MASTER_ADDR/PORT without torchrun's agent), a peer still leaving the group
    would find it gone. So every other rank reports through the store once it has left, and rank 0
    waits for those reports (at most ``timeout`` seconds) before it returns.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    rank, world_size = dist.get_rank(), dist.get_world_size()
    dist.barrier()
    store = c10d._get_default_store()        # kept alive here: rank 0's copy may be the server
    dist.destroy_process_group()
    if rank != 0:
        store.add(_LEFT_KEY, 1)
        return
    deadline = time.monotonic() + timeout
    while store.add(_LEFT_KEY, 0) < world_size - 1 and time.monotonic() < deadline:
        time.sleep(0.01)
