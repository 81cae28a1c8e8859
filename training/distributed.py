"""Data-parallel BPR training with torch.distributed (DistributedDataParallel, Li et al. 2020).

Every process holds the whole graph and the whole model, so the propagation is repeated in each; what is split
is the mini-batch. All processes draw the same global batch and the same negatives (one seed), each takes its
equal share of the rows, and DDP averages the gradients: the update is the single-process update of the
global batch, up to the order of floating-point sums. Processes start under ``torchrun``, which sets RANK,
WORLD_SIZE and the rendezvous address (see training/torchrun.py); gloo on CPU, NCCL on GPUs.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import distributed as dist
from torch import nn


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if world_size() > 1 else 0


def is_main_process() -> bool:
    return rank() == 0


def init_from_environment() -> None:
    """Join the process group torchrun describes in the environment (gloo on CPU, NCCL on GPUs)."""
    cuda = torch.cuda.is_available()
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(process_device())


def process_device() -> torch.device:
    """This process's GPU (torchrun's LOCAL_RANK) when there are GPUs, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def local_share(batch: np.ndarray) -> np.ndarray:
    """This process's contiguous, near-equal share of a global batch (the whole batch in one process)."""
    return np.array_split(batch, world_size())[rank()] if world_size() > 1 else batch


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """The module itself in one process, else wrapped in DDP (gradients averaged across processes)."""
    if world_size() == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    # Sparse buffers (the adjacency) are built from the same data in every process: nothing to broadcast.
    sparse = [name for name, buffer in module.named_buffers() if buffer.layout != torch.strided]
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, sparse)
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None,
                                   broadcast_buffers=False)


def sum_across(value: float) -> float:
    """``value`` summed over the processes (itself in one process)."""
    if world_size() == 1:
        return value
    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return float(total.item())


def from_main(value: float) -> float:
    """The main process's ``value`` in every process, so that all take the same early-stopping decision."""
    if world_size() == 1:
        return value
    shared = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(shared, src=0)
    return float(shared.item())
