"""What last.pt holds and how a training run continues from it: the whole training state (model, optimizer,
schedule, position in the epoch, best so far, random generators), written by rank 0 and read back by --resume,
exactly in one process and under any number of torchrun processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seq2seq.config import Config
from seq2seq.errors import UserError
from seq2seq.files import load
from seq2seq.train.distributed import Dist
from seq2seq.train.objectives import Objective
from seq2seq.train.schedule import (
    LossWatch,
    LRSchedule,
    Meter,
    rng_state,
    set_rng_state,
)
from seq2seq.train.validation import Best, ValidMetric


@dataclass
class Parts:
    """The run's objects that keep a state of their own; --resume loads it into them."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    watch: LossWatch
    meter: Meter
    objective: Objective
    metric: ValidMetric  # its name: a resumed run goes on picking best.pt by the same metric


@dataclass
class TrainState:
    """Where a run stands: the rest of last.pt, with the random generators."""

    step: int = 0
    epoch: int = 0
    pos: int = 0  # the epoch's batches done, by all processes together: last.pt resumes under any number of them
    best: Best = field(default_factory=Best)
    bad_validations: int = 0
    elapsed: float = 0.0  # wall-clock training seconds, over all runs of the model directory


def state_dict(parts: Parts, state: TrainState, cfg: Config, dist: Dist) -> dict:
    """All that --resume needs. Every rank calls it (their generators are gathered)."""
    rngs = dist.gather(rng_state())
    objective = parts.objective.state_dict()
    return {"model": parts.model.state_dict(), "optimizer": parts.optimizer.state_dict(),
            "schedule": parts.schedule.state_dict(), "step": state.step, "epoch": state.epoch, "pos": state.pos,
            "metric": parts.metric.name, "best": vars(state.best), "best_bleu": state.best.bleu,
            "bad_validations": state.bad_validations, "rng": rngs[0], "elapsed": state.elapsed,
            "watch": parts.watch.state_dict(), "meter": parts.meter.state_dict(), "config": cfg.to_dict(),
            "world": dist.world, **({"rng_ranks": rngs} if dist.world > 1 else {}),
            **({parts.objective.name: objective} if objective is not None else {})}


def restore(s: dict, parts: Parts, requested_metric: str, say) -> TrainState:
    """Load last.pt's contents `s` into `parts` and this process's generators; where the run stands. A run keeps
    its validation metric: one asked for (train.valid_metric `requested_metric`, not auto) must be the same."""
    saved = s.get("metric", "bleu")  # runs from before valid_metric were picked by BLEU
    metric = parts.metric
    if saved != metric.name:
        if requested_metric != "auto":
            raise UserError(f"--resume: this run picks checkpoints by {saved}; train.valid_metric="
                            f"{metric.name} would compare scores of different metrics (use {saved} or auto)")
        metric.name = saved
        say(f"validation metric: {saved} (the run's own, from last.pt)")
    parts.model.load_state_dict(s["model"])
    parts.optimizer.load_state_dict(s["optimizer"])
    parts.schedule.load_state_dict(s["schedule"])
    best = Best(**s["best"]) if "best" in s else Best((s["best_bleu"], -math.inf), s["best_bleu"], s["best_bleu"])
    best.rank = tuple(best.rank) if best.rank is not None else None
    state = TrainState(s["step"], s["epoch"], s["pos"], best, s["bad_validations"], s.get("elapsed", 0.0))
    for part, key in ((parts.watch, "watch"), (parts.meter, "meter"), (parts.objective, parts.objective.name)):
        if key in s:
            part.load_state_dict(s[key])
    set_rng_state(s["rng"])
    return state


def load_last(folder: Path, dist: Dist, device: torch.device) -> dict:
    """last.pt, read by rank 0 and sent to the other ranks (their model_dir may be another machine's)."""
    if dist.world == 1:
        return load(folder / "last.pt", map_location=device)
    state = load(folder / "last.pt", map_location="cpu") if dist.main else None
    return dist.broadcast(state)


def seed_rank(dist: Dist, saved: list | None, seed: int, step: int) -> None:
    """Each rank's own random generators (dropout): saved by a run of as many processes, else from the seed, the
    rank and the step. Rank 0 keeps the one-process stream."""
    if dist.world == 1:
        return
    if saved and len(saved) == dist.world:
        set_rng_state(saved[dist.rank])
    elif dist.rank:
        torch.manual_seed(seed * 1_000_003 + dist.rank * 7919 + step)
