"""The diagnostic's conclusions: every sentence computed from the measured numbers, and saying so plainly when
a run did not show the expected pattern (gated cells learn the longest length, the Elman RNN does not).
"""

from __future__ import annotations

import math
import statistics

from seq2seq.diagnose.experiment import SWEEP, Diagnosis, Fit

GATED = ("lstm", "gru")


def pct(x: float) -> str:
    return f"{100 * x:.0f}%" if math.isfinite(x) else "n/a"


def sci(x: float) -> str:
    return f"{x:.1e}" if math.isfinite(x) else "n/a"


def relative(values: list[float]) -> list[float]:
    """Norms as a fraction of the norm at distance 0 (the last step)."""
    return [v / values[0] if values and values[0] > 0 else float("nan") for v in values]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _lengths(fits: list[Fit]) -> str:
    return _join([f"T = {f.length}" for f in fits])


def describe_sweep(d: Diagnosis, name: str) -> str:
    """Which lengths a run learned (and in how many steps), which it did not (and how far it got)."""
    fits = [f for f in d.fits if f.name == name]
    label, ok = fits[0].label, [f for f in fits if f.learned_at]
    bad = [f for f in fits if not f.learned_at]
    if not bad:
        return (f"The {label} learned every length, up to T = {fits[-1].length}, each by step "
                f"{max(f.learned_at for f in ok)} at the latest.")
    missed = _join([f"T = {f.length} ({pct(f.accuracy)}, loss {f.loss:.2f})" for f in bad])
    if not ok:
        return f"The {label} learned none of the lengths within {d.settings.steps} steps: {missed}."
    text = (f"The {label} learned {_lengths(ok)} (by step {max(f.learned_at for f in ok)}) but not "
            f"{missed} within {d.settings.steps} steps.")
    early = [f for f in bad if f.length < max(g.length for g in ok)]
    if early:
        later = min(g.length for g in ok if g.length > early[0].length)
        text += (f" It missed T = {early[0].length} but learned the longer T = {later}: each length is one run "
                 f"from one seed, so a single miss can be an unlucky start (--seed repeats the experiment).")
    return text


def pattern(d: Diagnosis) -> str:
    """Whether the run shows the textbook result, and if not, exactly which part is missing."""
    short, long_ = d.settings.lengths[0], d.settings.lengths[-1]
    missing = [f"the {d.fit(g, long_).label} did not learn T = {long_}" for g in GATED
               if not d.fit(g, long_).learned_at]
    if d.fit("rnn", long_).learned_at:
        missing.append(f"the Elman RNN did learn T = {long_}")
    if not d.fit("rnn", short).learned_at:
        missing.append(f"the Elman RNN did not learn even T = {short}")
    if missing:
        return "This run did not show the textbook pattern: " + _join(missing) + "."
    return (f"This is the textbook pattern: the Elman RNN learned the shortest length (T = {short}) but not the "
            f"longest (T = {long_}), which the LSTM and the GRU both learned.")


def describe_control(d: Diagnosis) -> str:
    """The control (forget-gate bias 1) against the chrono-initialised LSTM, length by length."""
    learned = {t: (d.fit("lstm", t).learned_at, d.fit("lstm-forget1", t).learned_at) for t in d.settings.lengths}
    helped = [f"T = {t}" for t, (chrono, plain) in learned.items() if chrono and not plain]
    hurt = [f"T = {t}" for t, (chrono, plain) in learned.items() if plain and not chrono]
    text = describe_sweep(d, "lstm-forget1")
    if helped:
        text += (f" The same LSTM with the chrono initialisation learned {_join(helped)}: there the gate "
                 f"initialisation, not the cell alone, made the difference.")
    if hurt:
        text += f" Unexpectedly, the control learned {_join(hurt)}, which the chrono-initialised LSTM did not."
    if not helped and not hurt:
        text += " The chrono initialisation made no difference to which lengths the LSTM learned in this run."
    return text


def describe_gradients(d: Diagnosis, which: str) -> str:
    dist = d.settings.length - 1
    ratios = {p.name: relative(getattr(p, which))[dist] for p in d.profiles}
    labels = {p.name: p.label for p in d.profiles}
    when = ("At initialisation" if which == "init" else "After training" if d.settings.steps
            else "Untrained (0 steps)")
    parts = [f"{sci(ratios[n])} for the {labels[n]}" for n in ("rnn", "lstm", "gru")]
    text = (f"{when}, {dist} steps back from the loss, ||dL/dh_k|| is {_join(parts)}, as a fraction of its "
            f"value at the last step.")
    if not all(math.isfinite(ratios[n]) and ratios[n] > 0 for n in ("rnn", "lstm", "gru")):
        return text
    if all(ratios[g] > ratios["rnn"] for g in GATED):
        return (f"{text} The LSTM keeps {sci(ratios['lstm'] / ratios['rnn'])} times and the GRU "
                f"{sci(ratios['gru'] / ratios['rnn'])} times the Elman RNN's share.")
    return f"{text} Unexpectedly, a gated cell keeps no more of its gradient than the Elman RNN here."


def describe_clipping(d: Diagnosis) -> list[str]:
    s, (free, clipped), ex = d.settings, d.clipping, d.exploding
    dist = s.length - 1
    growth = relative(ex.init)[dist]
    grows = "grows with distance" if growth > 1 else "does not grow with distance"
    out = [(f"With recurrent weights drawn with gain {s.clip_gain:g}, the Elman RNN's ||dL/dh_k|| at "
            f"initialisation, {dist} steps back, is {sci(growth)} times its value at the last step: it {grows}.")]
    for f in (free, clipped):
        end = (f"diverged (a non-finite loss at step {f.diverged_at})" if f.diverged_at else
               f"ended at {pct(f.accuracy)} held-out accuracy (loss {f.loss:.2f}, chance {s.chance_loss:.2f})")
        norms = [g for g in f.grad_norms if math.isfinite(g)]
        peak = f"{max(norms):.3g}" if norms else "n/a"
        how = f"with clipping at {s.clip:g}" if f is clipped else "without clipping"
        out.append(f"Trained with SGD at T = {s.clip_length}, {how}, its gradient norm peaked at {peak} "
                   f"(median {median(norms):.3g}) and it {end}.")
    if clipped.learned_at and not free.learned_at:
        out.append(f"Clipping made the difference: only the clipped run learned (from step {clipped.learned_at}).")
    elif clipped.learned_at and free.learned_at:
        out.append("Both runs learned: clipping was not needed at these settings in this run.")
    elif free.learned_at:
        out.append("Unexpectedly, only the run without clipping learned.")
    else:
        out.append("Neither run learned within its steps: this run does not show clipping's benefit.")
    return out


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def conclusions(d: Diagnosis) -> list[str]:
    sweep = [describe_sweep(d, name) for name, *_ in SWEEP if name != "lstm-forget1"]
    return (sweep + [pattern(d), describe_control(d), describe_gradients(d, "init"),
                     describe_gradients(d, "trained")] + describe_clipping(d))
