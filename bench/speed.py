"""Speed on this machine: training target tokens/s, and translation sentences/s (greedy and beam 5).

    .venv/bin/python bench/speed.py [--config configs/multi30k-en-de.yaml] [--model runs/multi30k-en-de]
                                    [--steps 30] [--threads 2] [--src FILE] [--sentences 1000]

Training speed is measured on the config's own data and model size (fresh weights, after 3 warm-up steps);
translation speed with a trained model on `--src` (default: Multi30k test_2016_flickr, source side), with the
model's lexical shortlist (the default) and over the whole vocabulary.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from seq2seq.batching import token_batches
from seq2seq.config import load_config
from seq2seq.corpus import read_lines
from seq2seq.model.seq2seq import count_parameters
from seq2seq.trainer import Trainer
from seq2seq.translate import Translator


def train_speed(config: str, steps: int, model_dir: str | None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"model_dir={tmp}/run", "train.threads=0", "data.max_valid=10"]
        if model_dir and (Path(model_dir) / "spm.model").is_file():
            overrides.append(f"data.spm_model={Path(model_dir) / 'spm.model'}")
        cfg = load_config(config, overrides)
        tr = Trainer(cfg, progress=False, log_stream=open("/dev/null", "w"))
        batches = token_batches(*tr.task.lengths(), cfg.train.batch_tokens, seed=1)
        tokens, elapsed = 0, 0.0
        for i, idx in enumerate(batches[: steps + 3]):
            batch = tr.task.batch(idx)
            tic = time.perf_counter()
            tr.train_step(batch)
            if i >= 3:
                elapsed += time.perf_counter() - tic
                tokens += batch.n_tgt_tokens
        return tokens / elapsed, count_parameters(tr.model)


def translate_speed(model_dir: str, src: list[str], beam: int, batch_size: int, shortlist: bool = True) -> float:
    tr = Translator.load(model_dir, device="cpu", beam=beam, batch_size=batch_size, shortlist=shortlist)
    tr.generate(src[:32])  # warm-up
    tic = time.perf_counter()
    tr.generate(src)
    return len(src) / (time.perf_counter() - tic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/multi30k-en-de.yaml")
    ap.add_argument("--model", default="runs/multi30k-en-de", help="trained model for translation speed")
    ap.add_argument("--src", default="../shared/data/multi30k/task1/raw/test_2016_flickr.en")
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    tok_s, n_params = train_speed(args.config, args.steps, args.model)
    rows.append(("training", f"{args.config}, {n_params / 1e6:.1f}M params", f"{tok_s:,.0f} target tokens/s"))
    if Path(args.model).is_dir():
        src = read_lines(args.src)[: args.sentences]
        for beam in (1, 5):
            for shortlist in (True, False):
                sps = translate_speed(args.model, src, beam, args.batch_size, shortlist)
                rows.append((f"translate, beam {beam}" + ("" if shortlist else ", `--no-shortlist`"),
                             f"{args.model}, {len(src)} sentences, batch {args.batch_size}",
                             f"{sps:,.1f} sentences/s"))
    print(f"\nCPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s)\n")
    print("| what | setting | speed |\n|---|---|---|")
    for r in rows:
        print(f"| {' | '.join(r)} |")


if __name__ == "__main__":
    main()
