"""The report's attention section: which items to show, source-by-hypothesis heatmaps for translation, and
Show-Attend-and-Tell panels (attention per word over the image) for captioning."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from seq2seq.report.document import Doc, new_figure
from seq2seq.report.sections import Evaluation


def _piece(p: str) -> str:
    """A sentencepiece as a plot label: the word-start mark as '_', and '$' not read as TeX math."""
    return p.replace("\u2581", "_").replace("$", r"\$")


def attention_picks(ev: Evaluation, k: int, max_len: int = 30) -> list[int]:
    """Up to k items spread over the chrF range (best, middle, worst), preferring short ones for legibility."""
    t, chrf = ev.test, ev.scores.chrf
    cand = [i for i in range(len(ev.hyps)) if t.sources[i].strip()]
    short = [i for i in cand if t.task != "translate" or len(t.sources[i].split()) <= max_len] or cand
    if not short or k <= 0:
        return []
    order = sorted(short, key=lambda i: (-chrf[i], i))
    if len(order) <= k:
        return order
    return [order[round(j * (len(order) - 1) / max(k - 1, 1))] for j in range(k)]


def translation_attention_figure(src_pieces: list[str], tgt_pieces: list[str], attn: np.ndarray):
    """attn (T, S): one row per target piece (EOS step included), one column per source piece."""
    T, S = attn.shape
    fig = new_figure(min(14.0, 1.6 + 0.32 * S), min(12.0, 1.2 + 0.3 * T))
    ax = fig.subplots()
    im = ax.imshow(attn, cmap="viridis", vmin=0.0, vmax=max(float(attn.max()), 1e-6), aspect="auto")
    ax.set_xticks(range(S), [_piece(p) for p in src_pieces[:S]], rotation=90, fontsize=8)
    ax.set_yticks(range(T), [_piece(p) for p in tgt_pieces[:T]], fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("hypothesis")
    fig.colorbar(im, ax=ax, shrink=0.8, label="attention weight")
    return fig


def grid_shape(n: int) -> tuple[int, int]:
    """(h, w) of an attention grid of n cells: square when n is, else the most square factorisation."""
    r = int(round(math.sqrt(n)))
    if r * r == n:
        return r, r
    h = max(d for d in range(1, r + 1) if n % d == 0)
    return h, n // h


def caption_attention_figure(img, words: list[str], attn: np.ndarray, ncols: int = 7):
    """Show-Attend-and-Tell panels: the image, then one panel per word with its attention (T, N) reshaped to
    the feature grid and upsampled bilinearly over the (centre-cropped) image the model saw."""
    from PIL import ImageOps  # lazy: keeps start-up fast

    size = 224
    crop = ImageOps.fit(img, (size, size), centering=(0.5, 0.5))  # the eval transform's resize + centre crop
    T, N = attn.shape
    h, w = grid_shape(N)
    maps = torch.from_numpy(attn).float().view(T, 1, h, w)  # (T, 1, h, w)
    up = F.interpolate(maps, size=(size, size), mode="bilinear", align_corners=False)[:, 0].numpy()  # (T, S, S)
    panels = T + 1
    cols = min(ncols, panels)
    rows = math.ceil(panels / cols)
    fig = new_figure(1.9 * cols, 2.05 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    axes[0].imshow(crop)
    axes[0].set_title("image", fontsize=9)
    for t in range(T):
        ax = axes[t + 1]
        ax.imshow(crop)
        m = up[t] / max(float(up[t].max()), 1e-9)  # (S, S) in [0, 1]
        shade = np.zeros((size, size, 4))
        shade[..., 3] = 0.8 * (1.0 - m)  # darken what is not attended; attended regions stay as they are
        ax.imshow(shade)
        ax.set_title(_piece(words[t]).lstrip("_") or "_", fontsize=9)
    return fig


def section_attention(doc: Doc, ev: Evaluation, k: int) -> None:
    doc.section("attention", "Attention")
    if ev.system.config.model.attention == "none":
        doc.note("This model has no attention (model.attention = none): nothing to show.")
        return
    picks = attention_picks(ev, k)
    if not picks:
        doc.note("No non-empty inputs to show attention for.")
        return
    translation = ev.test.task == "translate"
    if translation:
        doc.p("Attention weights of the best hypothesis, decoded again for these sentences with the same search: "
              "rows are hypothesis pieces (the last is end-of-sentence), columns source pieces; each row sums to 1.")
    else:
        doc.p("Show-Attend-and-Tell view: for each generated word, its attention over the image's feature grid "
              "(reshaped to the grid, upsampled bilinearly, each panel scaled to its own maximum; bright = attended).")
    for i, a in zip(picks, ev.system.attention([ev.test.sources[i] for i in picks])):
        name = f"line {i + 1}" if translation else Path(ev.test.sources[i]).name
        doc.h3(f"{name} (chrF {ev.scores.chrf[i]:.1f})")
        if a is None:
            doc.note(f"no attention returned for this {'sentence' if translation else 'image'}")
        elif translation:
            doc.figure(translation_attention_figure(a.cols, a.rows, a.weights), f"{name}: {a.text}", "attn-heatmap",
                       {"rows": a.weights.shape[0], "cols": a.weights.shape[1]})
        else:
            gh, gw = grid_shape(a.weights.shape[1])
            doc.figure(caption_attention_figure(a.image, a.rows, a.weights), f"{name}: {a.text}", "attn-grid",
                       {"panels": a.weights.shape[0], "grid": f"{gh}x{gw}"})
