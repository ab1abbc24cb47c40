"""The diagnostic's page: an HTML file and its Markdown twin, through seq2seq.report's document model, with the
conclusions (conclusions.py) first, then the setup, and the figures and tables of each experiment.
"""

from __future__ import annotations

import datetime as _dt
import math
import tempfile
from pathlib import Path

from seq2seq.diagnose.conclusions import conclusions, median, pct, relative, sci
from seq2seq.diagnose.experiment import SWEEP, Diagnosis
from seq2seq.errors import UserError
from seq2seq.report import Cell, Doc, new_figure
from seq2seq.version import __version__

COLOURS = {"rnn": "#d1495b", "lstm": "#2e86ab", "gru": "#3b9e5a", "lstm-forget1": "#8d6cab",
           "exploding": "#f29e4c", "noclip": "#d1495b", "clip": "#2e86ab"}


# -- figures -------------------------------------------------------------------------------------------------
def _smooth(values: list[float], k: int) -> list[float]:
    windows = (values[max(0, i - k + 1) : i + 1] for i in range(len(values)))
    return [sum(w) / len(w) for w in windows]


def _sweep_figure(d: Diagnosis):
    s = d.settings
    fig = new_figure(12, 3.6)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for name, label, *_ in SWEEP:
        fits = [f for f in d.fits if f.name == name]
        ls = ":" if name == "lstm-forget1" else "-"
        ax1.plot([f.length for f in fits], [f.accuracy for f in fits], ls, marker="o", color=COLOURS[name], label=label)
        ax2.plot([f.length for f in fits], [f.loss for f in fits], ls, marker="o", color=COLOURS[name], label=label)
        longest = fits[-1].losses
        ax3.plot(range(1, len(longest) + 1), _smooth(longest, 10), ls, color=COLOURS[name], lw=1.4, label=label)
    ax1.axhline(1 / s.classes, color="#888", ls="--", lw=1, label=f"chance (1/{s.classes})")
    ax1.axhline(s.criterion, color="#888", ls=":", lw=1, label=f"criterion ({pct(s.criterion)})")
    for ax in (ax2, ax3):
        ax.axhline(s.chance_loss, color="#888", ls="--", lw=1, label=f"chance (ln {s.classes})")
    for ax, title in ((ax1, "held-out accuracy"), (ax2, "held-out loss")):
        ax.set_xscale("log")
        ax.set_xticks(s.lengths, [str(t) for t in s.lengths])
        ax.set_xlabel("sequence length T (the symbol is T-1 steps back)")
        ax.set_title(title, fontsize=10)
    ax3.set_title(f"training loss at T = {s.length} (moving average of 10)", fontsize=10)
    ax3.set_xlabel("training step")
    for ax in (ax1, ax2, ax3):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def _profile_figure(d: Diagnosis):
    fig = new_figure(12, 4.0)
    for ax, which, title in zip(fig.subplots(1, 2), ("init", "trained"), ("at initialisation", "after training")):
        for p in d.profiles + ([d.exploding] if which == "init" else []):
            pts = [(k, v) for k, v in enumerate(relative(getattr(p, which))) if v > 0 and math.isfinite(v)]
            ls = ":" if p.name == "lstm-forget1" else "--" if p.name == "exploding" else "-"
            if pts:
                ax.plot(*zip(*pts), ls, lw=1.7, color=COLOURS[p.name], label=p.label)
        ax.set_yscale("log")
        ax.set_xlabel("distance T-1-k (steps back from the loss)")
        ax.set_ylabel("||dL/dh_k|| / ||dL/dh_T-1||")
        ax.set_title(f"{title}, T = {d.settings.length}", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="lower left")
    return fig


def _clipping_figure(d: Diagnosis):
    s = d.settings
    fig = new_figure(12, 3.6)
    ax1, ax2 = fig.subplots(1, 2)
    for f in d.clipping:
        steps = range(1, len(f.losses) + 1)
        ax1.plot(steps, f.grad_norms, color=COLOURS[f.name], lw=1, label=f.label)
        ax2.plot(steps, _smooth(f.losses, 10), color=COLOURS[f.name], lw=1.4, label=f.label)
    ax1.axhline(s.clip, color="#888", ls=":", lw=1, label=f"clip threshold {s.clip:g}")
    ax1.set_yscale("log")
    ax1.set_title("total gradient norm before clipping", fontsize=10)
    ax2.axhline(s.chance_loss, color="#888", ls="--", lw=1, label=f"chance (ln {s.classes})")
    ax2.set_title("training loss (moving average of 10)", fontsize=10)
    for ax in (ax1, ax2):
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


# -- the page ------------------------------------------------------------------------------------------------
def _num(text: str):
    return Cell(text, text, "num")


def _sweep_tables(doc, d: Diagnosis) -> None:
    s = d.settings
    names = [(name, label) for name, label, *_ in SWEEP]
    head = ["cell"] + [f"T={t}" for t in s.lengths]
    doc.table(head, [[label] + [_num(pct(f.accuracy) + (f" (step {f.learned_at})" if f.learned_at else ""))
                                for f in d.fits if f.name == name] for name, label in names], "sweep")
    doc.p(f"Held-out accuracy at the end of each run (chance {100 / s.classes:.1f}%), and the step at which it "
          f"first met the criterion of {pct(s.criterion)}. Held-out loss (chance ln {s.classes} = "
          f"{s.chance_loss:.2f}):")
    doc.table(head, [[label] + [_num(f"{f.loss:.2f}") for f in d.fits if f.name == name]
                     for name, label in names], "sweep-loss")


def _profile_table(doc, d: Diagnosis) -> None:
    dists = sorted({k for k in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500) if k < d.settings.length}
                   | {d.settings.length - 1})
    rows = []
    for which in ("init", "trained"):
        for p in d.profiles + ([d.exploding] if which == "init" else []):
            rel = relative(getattr(p, which))
            rows.append([p.label, which] + [_num(sci(rel[k])) for k in dists])
    doc.table(["cell", "when"] + [f"d={k}" for k in dists], rows, "flow")


def _clipping_table(doc, d: Diagnosis) -> None:
    rows = []
    for f in d.clipping:
        norms = [g for g in f.grad_norms if math.isfinite(g)]
        clipped = sum(g > d.settings.clip for g in norms) if f.name == "clip" else 0
        rows.append([f.label, _num(f"{max(norms, default=float('nan')):.3g}"), _num(f"{median(norms):.3g}"),
                     _num(f"{clipped}/{len(f.grad_norms)}" if f.name == "clip" else "-"), _num(pct(f.accuracy)),
                     _num(f"{f.loss:.2f}"), _num(str(f.learned_at or "-")), _num(str(f.diverged_at or "-"))])
    doc.table(["run", "max gradient norm", "median", "steps clipped", "held-out accuracy", "held-out loss",
               "learned at step", "diverged at step"], rows, "clipping")


def _setup(d: Diagnosis) -> str:
    s = d.settings
    return (f"Task: marked recall. Every step shows one of {s.classes} symbols (one-hot) drawn at random; the first "
            f"step also sets a marker input, and its symbol must be named from the hidden state at the last "
            f"step, T-1 steps later; the symbols in between are distractors from the same alphabet. One-layer "
            f"torch.nn.RNN (tanh), LSTM and GRU with {s.hidden} hidden units and a linear classifier, trained "
            f"with Adam (lr {s.lr:g}, batch {s.batch}, gradient-norm clipping at {s.clip:g}) for up to "
            f"{s.steps} steps on fresh batches, the same batches and initial weights per cell at each length "
            f"(seed {s.seed}). A run has learned a length when its accuracy on {s.held_out} held-out sequences, "
            f"checked every {s.eval_every} steps, reaches {pct(s.criterion)}. The Elman RNN uses PyTorch's "
            f"initialisation. The LSTM and the GRU use the chrono initialisation (Tallec and Ollivier, 2018) "
            f"with horizon {s.length}: forget-gate (GRU: update-gate) biases log U(1, {s.length - 1}), LSTM "
            f"input-gate biases their negatives, so the cells start out keeping their state. The control "
            f"'LSTM (forget bias 1)' starts as this package's translation models do (forget-gate bias 1, other "
            f"biases PyTorch's). Gradients dL/dh_k are measured in float64 on 64 fixed sequences of length "
            f"{s.length}, one step at a time, before and after training.")


def check_writable(out: str | Path) -> Path:
    """The HTML path, once its folder exists and takes a new file (a UserError naming the problem if not), so a
    bad --out fails before a minute of training rather than after it."""

    out = Path(out)
    if out.suffix.lower() == ".md":
        raise UserError(f"--out {out}: give the HTML file's name; the Markdown twin is written beside it")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'gradient-flow.html'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=".diagnose-", suffix=".tmp"):
            pass
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    return out


def write_diagnosis(d: Diagnosis, out: str | Path) -> tuple[Path, Path]:
    """The page's HTML and Markdown twin; returns both paths."""

    s = d.settings
    doc = Doc("Long-range memory and gradient flow: Elman RNN vs LSTM vs GRU")
    doc.section("conclusions", "Conclusions (computed from the measurements below)")
    for sentence in conclusions(d):
        doc.p(sentence)
    doc.section("setup", "Setup")
    doc.p(_setup(d))
    doc.section("sweep", "Recall across a distance")
    doc.figure(_sweep_figure(d), "Held-out accuracy and loss by sequence length, and the training loss at the "
               "longest length", "plot", {"plot": "sweep"})
    _sweep_tables(doc, d)
    doc.section("gradient-flow", "Gradient norm against distance")
    doc.figure(_profile_figure(d), f"||dL/dh_k|| relative to the last step, against the distance T-1-k (log "
               f"scale), at T = {s.length}: at initialisation and after training", "plot", {"plot": "gradient-flow"})
    _profile_table(doc, d)
    doc.section("clipping", "Exploding gradients and clipping")
    doc.p(f"An Elman RNN whose recurrent weights are drawn from N(0, {s.clip_gain:g}^2 / {s.hidden}) is trained "
          f"with SGD (lr {s.clip_lr:g}, momentum {s.clip_momentum:g}, batch {s.batch}) for {s.clip_steps} steps "
          f"at T = {s.clip_length}, twice from the same start on the same batches: without clipping, and with "
          f"the total gradient norm clipped to {s.clip:g}. SGD is used here because its step is proportional "
          f"to the gradient.")
    doc.figure(_clipping_figure(d), "Gradient norm and training loss per step, without and with clipping",
               "plot", {"plot": "clipping"})
    _clipping_table(doc, d)
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    meta = [(f"T up to {s.length}, up to {s.steps} steps per run, hidden {s.hidden}, seed {s.seed}; "
             f"{d.seconds:.1f} s on {d.threads} CPU thread(s)"), f"generated {now} by seq2seq {__version__}"]
    return doc.write(out, meta)
