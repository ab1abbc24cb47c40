"""What last.pt holds and how a training run continues from it: the whole training state (model, optimizer,
schedule, position in the epoch, best so far, random generators), written by rank 0 and read back by --resume,
exactly in one process and under any number of torchrun processes.
"""

from __future__ import annotations

import math

import torch

from seq2seq.config import Config
from seq2seq.errors import UserError
from seq2seq.files import load
from seq2seq.modeldir import read_config
from seq2seq.train.schedule import rng_state, set_rng_state
from seq2seq.train.validation import Best


class Resumable:
    """The Trainer's checkpoint side (a mixin: it reads and sets the Trainer's attributes)."""

    def _saved_config(self) -> Config:
        return read_config(self.dir)

    def _load_last(self) -> dict:
        """last.pt, read by rank 0 and sent to the other ranks (their model_dir may be another machine's)."""
        if self.dist.world == 1:
            return load(self.dir / "last.pt", map_location=self.device)
        state = load(self.dir / "last.pt", map_location="cpu") if self.dist.main else None
        return self.dist.broadcast(state)

    def _seed_rank(self, saved: list | None) -> None:
        """Each rank's own random generators (dropout): saved by a run of as many processes, else from the seed,
        the rank and the step. Rank 0 keeps the one-process stream."""
        if self.dist.world == 1:
            return
        if saved and len(saved) == self.dist.world:
            set_rng_state(saved[self.dist.rank])
        elif self.dist.rank:
            torch.manual_seed(self.cfg.train.seed * 1_000_003 + self.dist.rank * 7919 + self.step)

    def _state(self) -> dict:
        """All that --resume needs; `pos` counts the epoch's batches done by all processes together, so last.pt
        resumes under any number of them. Every rank calls it (their generators are gathered)."""
        rngs = self.dist.gather(rng_state())
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "step": self.step, "epoch": self.epoch, "pos": self.pos,
                "metric": self.metric.name, "best": vars(self.best), "best_bleu": self.best.bleu,
                "bad_validations": self.bad_validations, "rng": rngs[0], "elapsed": self._elapsed(),
                "watch": self.watch.state_dict(), "meter": self.meter.state_dict(), "config": self.cfg.to_dict(),
                "world": self.dist.world, **({"rng_ranks": rngs} if self.dist.world > 1 else {}),
                **({"scst": self.scst.state_dict()} if self.scst else {})}

    def _restore(self, s: dict) -> None:
        saved = s.get("metric", "bleu")  # runs from before valid_metric were picked by BLEU
        if saved != self.metric.name:
            if self.cfg.train.valid_metric != "auto":
                raise UserError(f"--resume: this run picks checkpoints by {saved}; train.valid_metric="
                                f"{self.metric.name} would compare scores of different metrics (use {saved} or auto)")
            self.metric.name = saved
            self.say(f"validation metric: {saved} (the run's own, from last.pt)")
        self.model.load_state_dict(s["model"])
        self.optimizer.load_state_dict(s["optimizer"])
        self.schedule.load_state_dict(s["schedule"])
        self.step, self.epoch, self.pos = s["step"], s["epoch"], s["pos"]
        self.best = Best(**s["best"]) if "best" in s else Best((s["best_bleu"], -math.inf), s["best_bleu"],
                                                               s["best_bleu"])
        self.best.rank = tuple(self.best.rank) if self.best.rank is not None else None
        self.bad_validations, self.saved_step = s["bad_validations"], s["step"]
        self.elapsed = s.get("elapsed", 0.0)
        for part, key in ((self.watch, "watch"), (self.meter, "meter"), (self.scst, "scst")):
            if key in s:
                part.load_state_dict(s[key])
        set_rng_state(s["rng"])

    def save_last(self) -> None:
        """last.pt, written by rank 0; every rank calls it."""
        self.run.save(self._state(), "last.pt")
        self.saved_step = self.step

    def _last_good(self) -> str:
        if self.saved_step is not None and (not self.dist.main or (self.dir / "last.pt").is_file()):
            return f"The last good checkpoint is {self.dir / 'last.pt'} (step {self.saved_step})"
        return (f"No checkpoint was saved before it ({self.dir} holds no last.pt; the first validation is at step "
                f"{self.cfg.train.valid_every})")
