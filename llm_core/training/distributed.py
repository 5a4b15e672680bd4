"""Data-parallel training under `torchrun`: one model, N processes, the one training loop.

What it is: `DataParallel.from_env()` reads the variables torchrun sets (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and joins the process group (gloo on the CPU, NCCL on
CUDA). It gives `training.loop.train` what it needs to run the same steps on every rank:

- `wrap(model)`: DistributedDataParallel, which averages the gradients of all ranks during
  `backward()`, so every optimizer (AdamW, and Muon, whose orthogonalisation runs after the
  average) computes the same update on every rank and the replicas stay equal;
- `shard(batches)`: each rank draws the same global batch (same generator, same seed) and keeps
  its own disjoint slice of it, so `batch_size` is per rank, the global batch is
  `batch_size x world_size`, and the run sees exactly the batches a single process would see with
  the global batch;
- `mean(loss)`: the reported loss, averaged over ranks (the global batch's loss);
- `agree(elapsed_s, stop)`: one small all-reduce per step so every rank uses rank 0's clock
  (time budget, learning-rate schedule) and stops at the same step when any rank is asked to.

Only rank 0 evaluates, prints and saves; it evaluates the unwrapped model without collectives,
and the other ranks simply wait in the next step's all-reduce.

What it is not: a second training loop, model sharding (FSDP, tensor parallelism) or a job
scheduler (the app's jobs are `llm_core.jobs`).

    torchrun --standalone --nproc_per_node=2 -m llm_core.train --preset tiny --steps 2000
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

# PyTorch 2.13 renamed DDP's broadcast_buffers to forward_sync_buffers (the old name warns);
# GPU images often carry an older PyTorch (the H200 image here has 2.11), which knows only the old one.
_NO_BUFFER_SYNC_EACH_FORWARD = (
    {"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters else {"broadcast_buffers": False}
)


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher) started this process as one rank of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


class ShardedBatches:
    """A rank's share of another `Batches`: rows [rank*B, (rank+1)*B) of the global batch.

    Every rank calls the wrapped `train_batch` with the global size and the same generator, so the
    ranks' slices are disjoint and together form exactly the batch one process would draw.

        >>> class Counting:
        ...     def train_batch(self, batch_size, generator):
        ...         x = torch.arange(batch_size)[:, None]
        ...         return x, x + 100
        >>> [ShardedBatches(Counting(), rank, 2).train_batch(3, None)[0].flatten().tolist() for rank in (0, 1)]
        [[0, 1, 2], [3, 4, 5]]
    """

    def __init__(self, batches, rank: int, world_size: int):
        self.batches, self.rank, self.world_size = batches, rank, world_size

    def train_batch(self, batch_size: int, generator: torch.Generator):
        x, y = self.batches.train_batch(batch_size * self.world_size, generator)
        rows = slice(self.rank * batch_size, (self.rank + 1) * batch_size)
        return x[rows], y[rows]

    def __getattr__(self, name):  # val_batches and anything else: the wrapped source's own
        return getattr(self.batches, name)


@dataclass
class DataParallel:
    """This process's place in a data-parallel run that has joined its process group."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @classmethod
    def from_env(cls, device_name: str = "auto") -> DataParallel:
        """Join the process group torchrun describes in the environment (gloo on CPU, NCCL on CUDA)."""
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
        if use_cuda:
            if not torch.cuda.is_available():
                raise ValueError("CUDA was asked for, but no CUDA device is available here.")
            gpus = torch.cuda.device_count()
            if local_rank >= gpus:
                # One process per GPU: a second rank on a one-GPU machine would fail in CUDA with
                # "invalid device ordinal" (seen on an H200 with --nproc_per_node=2).
                raise ValueError(
                    f"this machine has {gpus} GPU{'s' if gpus != 1 else ''} and torchrun started a process for GPU number {local_rank + 1}: "
                    f"start one process per GPU (--nproc_per_node={gpus}), or train on the CPU with --device cpu."
                )
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        else:
            device = torch.device("cpu")
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", rank=rank, world_size=world_size)
        return cls(rank, world_size, local_rank, device)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> DistributedDataParallel:
        """The model for the training forward pass; gradients are averaged over ranks in backward().

        Its buffers (rotary tables) are constants: synced once at the start, not before every forward.
        """
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids, **_NO_BUFFER_SYNC_EACH_FORWARD)

    def shard(self, batches) -> ShardedBatches:
        return ShardedBatches(batches, self.rank, self.world_size)

    def mean(self, value: torch.Tensor) -> float:
        """The average of a scalar over all ranks (a collective: every rank must call it)."""
        t = value.detach().float().reshape(1).clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)  # gloo has no AVG
        return float(t) / self.world_size

    def agree(self, elapsed_s: float, stop: bool) -> tuple[float, bool]:
        """Rank 0's training clock, and whether any rank was asked to stop (a collective).

        One all-reduce of two numbers: only rank 0 contributes its clock, every rank its stop flag.
        The clock must be shared because the learning-rate schedule and the time budget read it:
        ranks with different clocks would apply different updates and drift apart.
        """
        t = torch.tensor([elapsed_s if self.is_main else 0.0, float(stop)], dtype=torch.float64)
        if self.device.type == "cuda":
            t = t.to(self.device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return float(t[0]), bool(t[1] > 0)

    def barrier(self) -> None:
        dist.barrier()

    def close(self, wait_s: float = 60.0) -> None:
        """Leave the process group together: rank 0 saves and prints after the last step while the others are done, and a
        rank that destroyed its group while rank 0 was still busy once aborted at exit in CI ("terminate called without an
        active exception", exit -6, 6 Dec 2026; 1 run in about 14). A barrier first, bounded: a rank that died is waited
        for `wait_s` at most (gloo's monitored barrier raises then), and the group is destroyed anyway."""
        if not dist.is_initialized():
            return
        if dist.get_backend() == "gloo":  # NCCL has no bounded barrier: it leaves as before
            try:
                dist.monitored_barrier(timeout=timedelta(seconds=wait_s))
            except RuntimeError:
                pass  # another rank is gone: nothing left to wait for
        dist.destroy_process_group()
