"""Multi-process training with ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node=N -m sound2sheet train ...`` starts N processes with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` in their environment. :func:`distributed_session` (used by
``sound2sheet train``) then joins the process group: ``nccl`` when training on CUDA (rank
``r`` uses ``cuda:LOCAL_RANK``), ``gloo`` on CPU. Inside it:

- the train loader's :class:`~sound2sheet.model.dataset.EpochSampler` gives each rank every
  ``WORLD_SIZE``-th item of the epoch's permutation, so one step over all ranks sees exactly
  the items a single process with ``batch_size * WORLD_SIZE`` would: ``batch_size`` is per
  process and the global batch is ``batch_size * WORLD_SIZE``;
- the :class:`~sound2sheet.model.Trainer` wraps the model in DistributedDataParallel (gradients
  are averaged across ranks, and the masked velocity loss is normalised by the global mask
  sum, so a step equals the single-process step on the global batch);
- validation and test files are split across ranks and the scores gathered, so every rank
  gets the same numbers and takes the same best-model and early-stopping decisions;
- only rank 0 writes checkpoints, ``history.json``, ``run_config.json`` and test scores, and
  logs below WARNING.

Every rank seeds the same RNGs and runs the same operations, so the RNG state rank 0 saves in
``last.pt`` is every rank's: all ranks resume from the same ``last.pt`` (it must be on a file
system they all see) and continue exactly.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from typing import Any, Iterator

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def env_world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 when not launched by torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def is_distributed() -> bool:
    """A process group of more than one process is initialised."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_rank() -> int:
    """This process's index on its node (``LOCAL_RANK``; 0 outside torchrun)."""
    try:
        return int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return 0


def _wants_cuda(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


@contextlib.contextmanager
def distributed_session(device: str = "auto") -> Iterator[bool]:
    """Join the torchrun process group for the block when ``WORLD_SIZE > 1``; yields whether
    training is distributed. ``device`` is ``TrainingConfig.device``: CUDA devices use
    ``nccl`` and ``cuda:LOCAL_RANK``, the CPU ``gloo``. Ranks other than 0 log warnings only.
    The group is destroyed at the end, also on error. A group initialised by the caller is
    used as it is and left alone."""
    if env_world_size() <= 1 or not dist.is_available() or dist.is_initialized():
        yield is_distributed()
        return
    if _wants_cuda(device):
        if not torch.cuda.is_available():
            from sound2sheet.errors import ConfigError

            raise ConfigError(f"device={device!r} requested but CUDA is not available")
        torch.cuda.set_device(local_rank())
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend)
    root = logging.getLogger()
    level = root.level
    if dist.get_rank() != 0:
        root.setLevel(max(level, logging.WARNING))
    log.info("distributed training: %d processes, backend %s", dist.get_world_size(), backend)
    ok = False
    try:
        yield True
        ok = True
    finally:
        try:
            # Free DistributedDataParallel state left in reference cycles while its group still
            # exists: torn down at interpreter exit instead, it sometimes aborts the process
            # (torch 2.13, gloo: a plain DDP script did so in 4 of 25 runs, 0 of 25 with this).
            gc.collect()
            if ok:
                dist.barrier()  # rank 0 may still be writing; leave together
        finally:
            dist.destroy_process_group()
            root.setLevel(level)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` as rank ``src`` has it, on every rank (itself when not distributed)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` when not distributed)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum of ``tensor`` over ranks (in place; ``tensor`` itself when not distributed)."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
