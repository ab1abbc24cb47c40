"""The experiments behind `seq2seq diagnose`: the distance sweep (Elman RNN, LSTM, GRU on marked recall at
T = 5, 10, 20, 50, 100), the gradient profiles ||dL/dh_k|| of the longest runs, and clipping on an Elman RNN
whose gradients explode. Everything is measured here; the page only shows it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from seq2seq.diagnose.task import Recurrent, gradient_by_distance, recall_batch
from seq2seq.errors import UserError
from seq2seq.progress import progress_bar

# (name, label, cell, init) of the sweep's runs; the last is the control that explains the old report
SWEEP = (("rnn", "Elman RNN", "rnn", "default"), ("lstm", "LSTM", "lstm", "chrono"),
         ("gru", "GRU", "gru", "chrono"), ("lstm-forget1", "LSTM (forget bias 1)", "lstm", "forget1"))
LADDER = (5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


@dataclass(frozen=True)
class Settings:
    """What `seq2seq diagnose` runs; validated on creation (bad values are UserErrors naming the option)."""

    length: int = 100  # longest sequence length T of the sweep (and the gate initialisation's horizon)
    steps: int = 600  # training-step budget of each sweep run (a run stops early once it meets the criterion)
    hidden: int = 32
    batch: int = 128
    lr: float = 1e-2  # Adam, for the sweep
    clip: float = 1.0  # gradient-norm clipping in the sweep
    seed: int = 0
    classes: int = 8
    criterion: float = 0.99  # held-out accuracy that counts as "learned"
    eval_every: int = 25
    held_out: int = 512
    clip_length: int = 10  # the clipping experiment: an Elman RNN with N(0, gain^2/H) recurrent weights, SGD
    clip_gain: float = 3.0
    clip_lr: float = 0.1
    clip_momentum: float = 0.9
    clip_steps: int = 300

    def __post_init__(self):
        for name, low in (("length", 2), ("steps", 0), ("hidden", 1), ("batch", 1), ("classes", 2),
                          ("clip_steps", 0), ("clip_length", 2), ("eval_every", 1), ("held_out", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserError(f"--{name.replace('_', '-')} must be an integer >= {low}, not {value!r}")
        for name in ("lr", "clip", "clip_lr", "clip_gain"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise UserError(f"--{name.replace('_', '-')} must be a positive number, not {value!r}")
        if not 0 < self.criterion <= 1:
            raise UserError(f"criterion must be in (0, 1], not {self.criterion!r}")

    @property
    def lengths(self) -> list[int]:
        """The sweep: the standard ladder below `length`, then `length` itself."""
        return [t for t in LADDER if t < self.length] + [self.length]

    @property
    def chance_loss(self) -> float:
        return math.log(self.classes)


@dataclass
class Fit:
    """One training run: held-out accuracy and loss at its end, and the per-step training curves."""

    name: str
    label: str
    length: int
    accuracy: float = float("nan")
    loss: float = float("nan")
    learned_at: int | None = None  # the step at which held-out accuracy first met the criterion
    steps_run: int = 0
    diverged_at: int | None = None  # the step whose training loss was not finite
    losses: list[float] = field(default_factory=list)  # training loss per step
    grad_norms: list[float] = field(default_factory=list)  # total gradient norm per step, before clipping
    seconds: float = 0.0


@dataclass
class Profile:
    """||dL/dh_k|| by distance d = T-1-k (index d), at initialisation and after training."""

    name: str
    label: str
    init: list[float]
    trained: list[float] = field(default_factory=list)


@dataclass
class Diagnosis:
    settings: Settings
    fits: list[Fit]  # the sweep: every (run, length)
    profiles: list[Profile]  # the sweep's runs at the longest length
    clipping: list[Fit]  # the exploding Elman RNN without, then with clipping
    exploding: Profile  # its gradient profile at initialisation, on the longest length's probe
    seconds: float = 0.0
    threads: int = 1

    def fit(self, name: str, length: int) -> Fit:
        return next(f for f in self.fits if f.name == name and f.length == length)


def _generator(seed: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + salt)


def _probe(s: Settings) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed batch of 64 sequences at the longest length on which every gradient profile is measured."""
    return recall_batch(_generator(s.seed, 900_000), s.length, 64, s.classes)


def _new_net(s: Settings, cell: str, init: str, gain: float = 1.0) -> Recurrent:
    """The same initial weights for a given (seed, cell, init), without touching torch's global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(s.seed)
        return Recurrent(cell, s.classes + 1, s.classes, s.hidden, init, horizon=s.length, gain=gain)


def _evaluate(net: Recurrent, test: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, float]:
    x, y = test
    with torch.no_grad():
        logits = net(x)  # (N, classes)
    return (logits.argmax(-1) == y).float().mean().item(), F.cross_entropy(logits, y).item()


def train(net: Recurrent, fit: Fit, opt: torch.optim.Optimizer, s: Settings, length: int, steps: int,
          clip: float | None, seed_salt: int, bar, stop_early: bool = True) -> Fit:
    """Train `net` on fresh batches of marked recall at `length`; evaluate on a fixed held-out set every
    `eval_every` steps (stopping once it meets the criterion if `stop_early`) and at the end."""
    t0 = time.perf_counter()
    gen = _generator(s.seed, seed_salt)
    test = recall_batch(_generator(s.seed, 500_000 + length), length, s.held_out, s.classes)
    for step in range(1, steps + 1):
        x, y = recall_batch(gen, length, s.batch, s.classes)
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        norm = nn.utils.clip_grad_norm_(net.parameters(), clip if clip else float("inf"))
        fit.losses.append(loss.item())
        fit.grad_norms.append(float(norm))
        fit.steps_run = step
        bar.update(1)
        if not (math.isfinite(fit.losses[-1]) and math.isfinite(fit.grad_norms[-1])):
            fit.diverged_at = step
            break
        opt.step()
        if step % s.eval_every == 0 or step == steps:
            fit.accuracy, fit.loss = _evaluate(net, test)
            if fit.learned_at is None and fit.accuracy >= s.criterion:
                fit.learned_at = step
                if stop_early:
                    break
    if fit.steps_run == 0 or fit.diverged_at:
        fit.accuracy, fit.loss = _evaluate(net, test)
    bar.update(steps - fit.steps_run)  # the budget a run did not need
    fit.seconds = time.perf_counter() - t0
    return fit


def sweep(s: Settings, bar) -> tuple[list[Fit], list[Profile]]:
    """Every run at every length: same batches and held-out set per length, same initial weights per run.
    At the longest length, also the gradient profiles before and after training."""
    fits, profiles = [], []
    probe = _probe(s)
    for length in s.lengths:
        for name, label, cell, init in SWEEP:
            bar.set_description(f"{label}, T={length}")
            net = _new_net(s, cell, init)
            if length == s.length:
                profiles.append(Profile(name, label, gradient_by_distance(net.rnn, net.head, *probe)))
            opt = torch.optim.Adam(net.parameters(), lr=s.lr)
            fits.append(train(net, Fit(name, label, length), opt, s, length, s.steps, s.clip, length, bar))
            if length == s.length:
                profiles[-1].trained = (gradient_by_distance(net.rnn, net.head, *probe) if s.steps
                                        else list(profiles[-1].init))
    return fits, profiles


def clipping(s: Settings, bar) -> tuple[list[Fit], Profile]:
    """The exploding Elman RNN trained with SGD from the same start, without and then with clipping."""
    runs = []
    for clip in (None, s.clip):
        label = f"Elman RNN, gain {s.clip_gain:g}, " + (f"clip {clip:g}" if clip else "no clipping")
        bar.set_description(label)
        net = _new_net(s, "rnn", "gain", s.clip_gain)
        opt = torch.optim.SGD(net.parameters(), lr=s.clip_lr, momentum=s.clip_momentum)
        runs.append(train(net, Fit("clip" if clip else "noclip", label, s.clip_length), opt, s, s.clip_length,
                          s.clip_steps, clip, 700_000, bar, stop_early=False))
    net = _new_net(s, "rnn", "gain", s.clip_gain)
    exploding = gradient_by_distance(net.rnn, net.head, *_probe(s))
    return runs, Profile("exploding", f"Elman RNN, gain {s.clip_gain:g}", exploding)


def diagnose(s: Settings, progress: bool | None = None) -> Diagnosis:
    """Run everything, with a progress bar on stderr (see seq2seq.progress) counted in training steps."""
    t0 = time.perf_counter()
    total = len(SWEEP) * len(s.lengths) * s.steps + 2 * s.clip_steps
    with progress_bar(total, desc="diagnose", unit="step", enabled=progress) as bar:
        fits, profiles = sweep(s, bar)
        clip_runs, exploding = clipping(s, bar)
    return Diagnosis(s, fits, profiles, clip_runs, exploding, time.perf_counter() - t0, torch.get_num_threads())
