"""What the training loop keeps track of between steps: the learning-rate schedule, the watch for a diverging
loss, the running loss and throughput of the log rows, and the random generators. Each one's state goes into last.pt for exact resume.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections import deque

import torch

from seq2seq.config import TrainConfig


class LRSchedule:
    """Linear warm-up, then constant, inverse square root, or reduce-on-plateau of the validation metric.

    `on_validation` takes anything ordered, higher is better (the trainer passes its metric's rank)."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.scale = 1.0  # plateau decay so far
        self.best = None
        self.bad = 0

    def lr(self, step: int) -> float:
        c = self.cfg
        warm = min(1.0, step / c.warmup_steps) if c.warmup_steps else 1.0
        if c.schedule == "inverse_sqrt":
            w = max(c.warmup_steps, 1)
            return c.lr * (warm if step < w else math.sqrt(w / max(step, 1)))
        return max(c.lr * self.scale, c.min_lr) * warm if c.schedule == "plateau" else c.lr * warm

    def on_validation(self, metric) -> None:
        if self.best is None or metric > self.best:
            self.best, self.bad = metric, 0
            return
        self.bad += 1
        if self.cfg.schedule == "plateau" and self.bad > self.cfg.decay_patience:
            self.scale *= self.cfg.decay_factor
            self.bad = 0

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad": self.bad}

    def load_state_dict(self, d: dict) -> None:
        self.scale, self.best, self.bad = d["scale"], d["best"], d["bad"]
        if isinstance(self.best, (int, float)):  # written before ranks: a BLEU, or -inf before any validation
            self.best = (float(self.best), -math.inf) if math.isfinite(self.best) else None


class LossWatch:
    """Divergence: a non-finite loss, a loss 10x that of guessing uniformly over the vocabulary (whatever came
    before), or, once `MIN_STEPS` losses are known, one 10x their running median and worse than guessing."""

    FACTOR, WINDOW, MIN_STEPS = 10.0, 100, 20

    def __init__(self, vocab_size: int, finite_only: bool = False):
        """finite_only: for a loss of no fixed scale or sign (SCST's policy gradient): checked for NaN and inf only."""
        self.chance = math.inf if finite_only else math.log(max(vocab_size, 2))  # uniform guessing's cross-entropy
        self.recent: deque[float] = deque(maxlen=self.WINDOW)

    def problem(self, loss: float) -> str | None:
        """Why `loss` means the run diverged, or None."""
        if not math.isfinite(loss):
            return f"is non-finite ({loss})"
        if loss > self.FACTOR * self.chance:
            return (f"{loss:.4g} is more than {self.FACTOR:g}x that of guessing uniformly over the vocabulary "
                    f"({self.chance:.3g})")
        if len(self.recent) >= self.MIN_STEPS:
            median = statistics.median(self.recent)
            if loss > max(self.FACTOR * median, self.chance):
                return (f"{loss:.4g} is more than {self.FACTOR:g}x its running median ({median:.3g}) and worse "
                        f"than guessing uniformly ({self.chance:.3g})")
        return None

    def add(self, loss: float) -> None:
        self.recent.append(loss)

    def state_dict(self) -> dict:
        return {"recent": list(self.recent)}

    def load_state_dict(self, d: dict) -> None:
        self.recent.extend(d.get("recent", []))


class Meter:
    """Mean loss and target tokens/s over the steps since the last log row; training tokens and time in all."""

    def __init__(self):
        self.tokens, self.seconds = 0, 0.0  # this process, for the summary
        self.w_tokens, self.w_loss, self.w_steps = 0, 0.0, 0  # the window of the next log row
        self.w_start = time.perf_counter()

    def add(self, n_tokens: int, loss: float, seconds: float) -> None:
        self.tokens += n_tokens
        self.seconds += seconds
        self.w_tokens += n_tokens
        self.w_loss += loss
        self.w_steps += 1

    @property
    def tok_s(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)

    def row(self) -> dict:
        """The window's mean loss and tokens/s; starts the next window."""
        elapsed = time.perf_counter() - self.w_start
        out = {"loss": round(self.w_loss / max(self.w_steps, 1), 4),
               "tok_s": round(self.w_tokens / max(elapsed, 1e-9), 1)}
        self.w_tokens, self.w_loss, self.w_steps = 0, 0.0, 0
        self.w_start = time.perf_counter()
        return out

    def state_dict(self) -> dict:
        return {"loss": self.w_loss, "steps": self.w_steps, "tokens": self.w_tokens}

    def load_state_dict(self, d: dict) -> None:
        self.w_loss, self.w_steps, self.w_tokens = d["loss"], d["steps"], d["tokens"]


def rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Generators take CPU byte tensors; a checkpoint loaded with map_location=cuda holds GPU copies."""
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in state["cuda"]])
