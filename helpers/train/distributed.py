"""Several processes, one model: DistributedDataParallel set-up for ``python -m helpers.train``.

Not taught in a notebook (the episodes train one small model in one process); the
README's "Training outside the notebooks" shows the ``torchrun`` lines. Each process
draws its own batches (``rank_seed``), DDP averages the gradients, and only rank 0
writes files. The checkpoint keeps every rank's batch generator
(``gather_generator_states``), so a resumed run continues exactly.
"""

import os

import torch
from torch import nn

BATCH_SEED_STRIDE = 7919  # a prime: rank r draws its batches from seed + 7919 * r


def launched_by_torchrun() -> bool:
    """True when the environment says this is one process of several (WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def is_distributed() -> bool:
    """True once a process group is running in this process."""
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes: (0, 1) without a process group."""
    if not is_distributed():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def is_main_process() -> bool:
    """True for the process that prints and writes files (rank 0, or the only one)."""
    return rank_and_world()[0] == 0


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s batch generator: each process draws different batches."""
    return seed + BATCH_SEED_STRIDE * rank


def start(device: str = "auto") -> str:
    """Join the process group torchrun described in the environment; return this rank's device.

    NCCL with one GPU per process (``cuda:LOCAL_RANK``) when ``device`` allows CUDA and
    there is a GPU, else gloo on the CPU. More processes than GPUs is a ValueError.
    """
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if cuda and local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"process {local_rank} has no GPU of its own: this machine has "
            f"{torch.cuda.device_count()}; start at most that many processes per "
            f"machine (--nproc_per_node), or train on the CPU with --device cpu"
        )
    torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local_rank)
        return f"cuda:{local_rank}"
    return "cpu"


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model wrapped in DistributedDataParallel (which averages gradients across ranks)."""
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def stop() -> None:
    """Leave the process group, if one is running, once every process has got here.

    Rank 0 writes the outputs while the others wait: without the barrier a process could
    tear its connections down while another still uses them (seen as a SIGABRT under load).
    """
    if is_distributed():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def gather_generator_states(gen: torch.Generator) -> list[torch.Tensor] | None:
    """Every rank's state of ``gen``, in rank order (a collective call); None in one process."""
    if not is_distributed():
        return None
    states: list = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(states, gen.get_state())
    return states
