"""Gradient-flow diagnostic (`seq2seq diagnose`): how far back the loss's gradient reaches through Elman RNN,
LSTM and GRU cells, and what gradient clipping does to an Elman RNN's training.

Small one-layer torch.nn.RNN/LSTM/GRU classifiers learn the same long-range task: a class token at the first
step, blanks after it, the class to be named after T steps. The gradient dL/dh_k of the final loss with respect
to each step's hidden state is measured by re-running the trained module one step at a time, with
`retain_grad` on every step's state, at initialisation and after training; its norm against the distance
T-1-k shows vanishing gradients directly.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from seq2seq import UserError

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
# (name, label, cell, clip norm): the Elman RNN twice, without and with gradient-norm clipping
RUNS = (("rnn", "Elman RNN", "rnn", 0.0), ("rnn-clip", "Elman RNN, clip 1.0", "rnn", 1.0),
        ("lstm", "LSTM", "lstm", 0.0), ("gru", "GRU", "gru", 0.0))
COLOURS = {"rnn": "#d1495b", "rnn-clip": "#f29e4c", "lstm": "#2e86ab", "gru": "#3b9e5a"}


class Recurrent(nn.Module):
    """One recurrent layer over one-hot inputs (T, B, V + 1), a linear classifier on the last hidden state."""

    def __init__(self, cell: str, classes: int, hidden: int):
        super().__init__()
        self.cell = cell
        self.rnn = CELLS[cell](classes + 1, hidden)
        self.head = nn.Linear(hidden, classes)
        if cell == "lstm":  # forget-gate bias 1, as this package's models start: remember by default
            with torch.no_grad():
                self.rnn.bias_ih_l0[hidden : 2 * hidden].fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (T, B, H), fused over time
        return self.head(out[-1])  # (B, classes)


def make_batch(gen: torch.Generator, length: int, batch: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x (T, B, classes + 1) one-hot: a class token at step 0, the blank symbol after; y (B,) that class."""
    y = torch.randint(0, classes, (batch,), generator=gen)
    tokens = torch.full((length, batch), classes)  # (T, B), blank = index `classes`
    tokens[0] = y
    return F.one_hot(tokens, classes + 1).float(), y


def gradient_by_distance(net: Recurrent, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Mean over the batch of ||dL/dh_k||, indexed by distance d = T-1-k from the last step. Runs a float64 copy
    one step at a time so every step's hidden state is a separate tensor that can keep its gradient."""
    m = copy.deepcopy(net).double()
    x = x.double()
    state, hs = None, []
    for k in range(x.size(0)):
        _, state = m.rnn(x[k : k + 1], state)  # state (1, B, H), or (h, c) for the LSTM
        h = state[0] if m.cell == "lstm" else state
        h.retain_grad()
        hs.append(h)
    F.cross_entropy(m.head(hs[-1][0]), y).backward()
    norms = [h.grad[0].norm(dim=-1).mean().item() for h in hs]  # (T,) per step k
    return norms[::-1]


@dataclass
class Run:
    name: str
    label: str
    cell: str
    clip: float
    init: list[float] = field(default_factory=list)  # ||dL/dh|| by distance, at initialisation
    trained: list[float] = field(default_factory=list)  # ... after training
    losses: list[float] = field(default_factory=list)  # training loss per step
    grad_norms: list[float] = field(default_factory=list)  # total gradient norm per step, before clipping
    seconds: float = 0.0

    def relative(self, which: str = "trained") -> list[float]:
        g = getattr(self, which)
        return [v / g[0] if g[0] > 0 else float("nan") for v in g]


@dataclass
class GradientFlow:
    length: int
    steps: int
    hidden: int
    classes: int
    batch: int
    lr: float
    seed: int
    runs: list[Run]
    seconds: float = 0.0

    def run(self, name: str) -> Run:
        return next(r for r in self.runs if r.name == name)


def gradient_flow(length: int = 100, steps: int = 250, hidden: int = 32, classes: int = 8, batch: int = 32,
                  lr: float = 1e-2, seed: int = 0) -> GradientFlow:
    """Train each run from the same initial weights (per cell) on the same batches; measure gradients before
    and after. Adam; the clipped run rescales the total gradient norm to at most its clip value each step."""
    if length < 2:
        raise UserError("--length must be >= 2")
    if steps < 0:
        raise UserError("--steps must be >= 0")
    if hidden < 1:
        raise UserError("--hidden must be >= 1")
    t_all = time.perf_counter()
    probe = make_batch(torch.Generator().manual_seed(seed + 1), length, 64, classes)  # fixed measuring batch
    runs = []
    for name, label, cell, clip in RUNS:
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        net = Recurrent(cell, classes, hidden)
        run = Run(name, label, cell, clip, init=gradient_by_distance(net, *probe))
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed + 2)
        for _ in range(steps):
            x, y = make_batch(gen, length, batch, classes)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            norm = nn.utils.clip_grad_norm_(net.parameters(), clip if clip > 0 else float("inf"))
            opt.step()
            run.losses.append(loss.item())
            run.grad_norms.append(float(norm))
        run.trained = gradient_by_distance(net, *probe) if steps else list(run.init)
        run.seconds = time.perf_counter() - t0
        runs.append(run)
    return GradientFlow(length, steps, hidden, classes, batch, lr, seed, runs, time.perf_counter() - t_all)


# -- the page -----------------------------------------------------------------------------------------------
def _flow_figure(gf: GradientFlow):
    """Two panels, at initialisation and after training: relative gradient norm against distance, log scale."""
    from seq2seq.report import new_figure

    fig = new_figure(11, 4.0)
    for ax, which, title in zip(fig.subplots(1, 2), ("init", "trained"),
                                ("at initialisation", f"after {gf.steps} training steps")):
        runs = [r for r in gf.runs if which == "trained" or r.name != "rnn-clip"]  # identical to rnn at init
        for r in runs:
            rel = r.relative(which)
            pts = [(d, v) for d, v in enumerate(rel) if v > 0 and math.isfinite(v)]  # log scale: no zeros
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.8, color=COLOURS[r.name],
                        ls="--" if r.clip else "-", label=r.label)
        ax.set_yscale("log")
        ax.set_xlabel("distance t - k (steps back from the loss)")
        ax.set_ylabel("||dL/dh_k|| / ||dL/dh_t||")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="lower left")
    return fig


def _training_figure(gf: GradientFlow):
    from seq2seq.report import new_figure

    fig = new_figure(11, 3.4)
    ax1, ax2 = fig.subplots(1, 2)
    k = max(1, gf.steps // 60)  # moving average over k steps for a readable loss curve
    for r in gf.runs:
        ls = "--" if r.clip else "-"
        sm = [sum(r.losses[max(0, i - k + 1) : i + 1]) / len(r.losses[max(0, i - k + 1) : i + 1])
              for i in range(len(r.losses))]
        ax1.plot(range(1, len(sm) + 1), sm, ls, color=COLOURS[r.name], lw=1.5, label=r.label)
        ax2.plot(range(1, len(r.grad_norms) + 1), r.grad_norms, ls, color=COLOURS[r.name], lw=1, label=r.label)
    ax1.axhline(math.log(gf.classes), color="#888", lw=1, ls=":", label=f"chance (ln {gf.classes})")
    ax1.set_title(f"training loss (moving average of {k})", fontsize=10)
    ax2.axhline(1.0, color="#f29e4c", lw=1, ls=":", label="clip threshold")
    ax2.set_yscale("log")
    ax2.set_title("total gradient norm before clipping", fontsize=10)
    for ax in (ax1, ax2):
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def _distances(length: int) -> list[int]:
    return sorted({d for d in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, length - 1) if d < length})


def write_gradient_flow(gf: GradientFlow, out: str | Path) -> tuple[Path, Path]:
    """The diagnostic's self-contained HTML page and Markdown twin."""
    import datetime as _dt

    from seq2seq import __version__
    from seq2seq.report import Cell, Doc

    doc = Doc("Gradient flow: Elman RNN vs LSTM vs GRU")
    doc.section("setup", "Setup")
    doc.p(f"Task: a class token (one of {gf.classes}) at the first step, blank inputs for the next {gf.length - 1} "
          f"steps, the class to be predicted from the last hidden state (chance loss ln {gf.classes} = "
          f"{math.log(gf.classes):.2f}). One-layer torch.nn.RNN (tanh), LSTM (forget-gate bias 1) and GRU with "
          f"{gf.hidden} hidden units, trained {gf.steps} steps with Adam (lr {gf.lr}, batch {gf.batch}, seed "
          f"{gf.seed}) on the same batches from the same initial weights per cell. The Elman RNN is trained twice, "
          f"without and with gradient-norm clipping at 1.0. Gradients dL/dh_k are measured in float64 on a fixed "
          f"batch of 64 sequences, running each module one step at a time with retain_grad on every hidden state.")
    doc.section("gradient-flow", "Gradient norm against distance")
    doc.figure(_flow_figure(gf), f"||dL/dh_k|| relative to the last step t, against the distance t - k (log scale), "
               f"at initialisation and after {gf.steps} training steps", "plot", {"plot": "gradient-flow"})
    ds = _distances(gf.length)
    rows = []
    for which in ("init", "trained"):
        for r in gf.runs:
            if which == "init" and r.name == "rnn-clip":
                continue
            rel = r.relative(which)
            rows.append([r.label, which] + [Cell(f"{rel[d]:.1e}", f"{rel[d]:.1e}", "num") for d in ds])
    doc.table(["cell", "when"] + [f"d={d}" for d in ds], rows, "flow")
    rnn, lstm = gf.run("rnn").relative("init")[-1], gf.run("lstm").relative("init")[-1]
    if rnn > 0 and lstm > 0:
        doc.p(f"At initialisation, {gf.length - 1} steps back, the Elman RNN's gradient has shrunk to {rnn:.1e} "
              f"of its size at the last step, the LSTM's to {lstm:.1e}: {lstm / rnn:.1e} times more signal reaches "
              f"the first input through the LSTM's additive cell state.")
    doc.section("training", "Training: loss and gradient norm")
    doc.figure(_training_figure(gf), "Training loss and total gradient norm (before clipping) per step", "plot",
               {"plot": "training"})
    rows = []
    for r in gf.runs:
        tail = r.losses[-max(1, len(r.losses) // 10) :] if r.losses else [float("nan")]
        clipped = sum(g > r.clip for g in r.grad_norms) if r.clip else 0
        rows.append([r.label, sum(tail) / len(tail), Cell(f"{max(r.grad_norms, default=0):.3g}",
                                                          f"{max(r.grad_norms, default=0):.3g}", "num"),
                     Cell(f"{clipped}/{len(r.grad_norms)}" if r.clip else "-", f"{clipped}/{len(r.grad_norms)}"
                          if r.clip else "-", "num"), Cell(f"{r.seconds:.1f}", f"{r.seconds:.1f}", "num")])
    doc.table(["run", "final loss (last 10%)", "max gradient norm", "steps clipped", "seconds"], rows, "runs")
    doc.p("Clipping rescales the gradient whenever its norm exceeds the threshold, so the clipped run follows a "
          "different trajectory from the same start: compare its loss and gradient-norm curves with the "
          "unclipped Elman RNN's.")
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    meta = [f"T = {gf.length}, {gf.steps} steps, hidden {gf.hidden}; {gf.seconds:.1f} s on {torch.get_num_threads()} "
            f"CPU thread(s)", f"generated {now} by seq2seq {__version__}"]
    return doc.write(out, meta)
