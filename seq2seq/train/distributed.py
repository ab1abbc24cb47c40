"""Data-parallel training under `torchrun`: the process group, each process's device, DistributedDataParallel
with summed gradients, and the few collectives through which every rank takes rank 0's decisions.

One process (no torchrun, or `--nproc_per_node 1`) is `Dist()`: rank 0 of 1, and every method a no-op.
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from seq2seq.errors import UserError

# how long ranks wait for each other outside the training steps: for rank 0 to train the tokenizer and tokenize
# a large corpus on a first run, to validate or to write a checkpoint (torchrun stops them all at once if one dies)
WAIT = timedelta(hours=2)


@dataclass
class Dist:
    """This process's place in a data-parallel run; `group` carries objects and decisions (gloo, on the CPU)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    group: Any = None

    @property
    def main(self) -> bool:
        """Rank 0: the process that writes the model directory, the log and the progress bar."""
        return self.rank == 0

    @classmethod
    def from_env(cls, device: torch.device) -> tuple["Dist", torch.device]:
        """Join the run torchrun started (its RANK/WORLD_SIZE/LOCAL_RANK and rendezvous variables), NCCL on CUDA
        and gloo on the CPU; and the device this process trains on (cuda:LOCAL_RANK)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls(), device
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        _stop_with_launcher()
        if device.type == "cuda":
            if local >= torch.cuda.device_count():
                raise UserError(f"local rank {local} has no GPU: this machine has {torch.cuda.device_count()}; "
                                f"give torchrun --nproc_per_node at most that many")
            device = torch.device("cuda", local)
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        group = dist.new_group(backend="gloo", timeout=WAIT)
        return cls(rank, world, local, group), device

    def close(self) -> None:
        if self.world > 1:
            if dist.is_initialized():
                dist.destroy_process_group()

    # -- collectives (all ranks call them, in the same order) ---------------------------------------------------
    def broadcast(self, obj):
        """Rank 0's `obj`, on every rank."""
        if self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        out = [None] * self.world
        dist.all_gather_object(out, obj, group=self.group)
        return out

    def sum(self, *values: float) -> list[float]:
        """Each value summed over the ranks (float64)."""
        if self.world == 1:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t, group=self.group)
        return t.tolist()

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier(group=self.group)

    @contextmanager
    def main_first(self):
        """Rank 0 runs the block first (it fills caches), the other ranks after it has finished."""
        if not self.main:
            self.barrier()
        yield
        if self.main:
            self.barrier()

    def flags(self, late: bool, signum: int | None) -> tuple[bool, int | None]:
        """The decisions of one step that every rank must share: rank 0's clock says whether the time budget is
        spent; a SIGTERM or SIGINT that reached any rank stops them all (SIGTERM first)."""
        if self.world == 1:
            return late, signum
        out = self.sum(float(late and self.main), float(signum == signal.SIGINT), float(signum == signal.SIGTERM))
        return out[0] > 0, signal.SIGTERM if out[2] else signal.SIGINT if out[1] else None

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DistributedDataParallel over `model` (the model itself in one process). Gradients are summed over the
        ranks, not averaged: each rank's loss is already divided by the whole step's target tokens, so the update
        is that of one process on the global batch."""
        if self.world == 1:
            return model
        device = next(model.parameters()).device
        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        ddp.register_comm_hook(None, _sum_gradients)
        return ddp


def _stop_with_launcher() -> None:
    """Linux: when torchrun itself dies (kill -9), its workers get SIGTERM, so they save last.pt and exit rather
    than train on as orphans (torchrun starts each one in a session of its own)."""
    if sys.platform.startswith("linux"):
        import ctypes  # lazy: keeps start-up fast

        try:
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _sum_gradients(group, bucket):
    work = dist.all_reduce(bucket.buffer(), group=group, async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])
