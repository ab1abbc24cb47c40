"""Speed on this machine: training target tokens/s, and translation sentences/s (greedy and beam 5).

    .venv/bin/python bench/speed.py [--config configs/multi30k-en-de.yaml] [--model checkpoints/multi30k-en-de]
                                    [--steps 30] [--threads 2] [--src FILE] [--sentences 1000]
                                    [--against GIT_REV] [--repeats 3]

Training speed is measured on the config's own data and model size (fresh weights, after 3 warm-up steps);
translation speed with a trained model on `--src` (default: Multi30k test_2016_flickr, source side), with the
model's lexical shortlist (the default) and over the whole vocabulary.

`--against REV` measures this code and the code of a git revision side by side in one run: each measurement runs
in a fresh process, the two versions taking turns `--repeats` times (this machine's speed drifts from minute to
minute), and the table gives each one's median with the runs beside it. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train_speed(config: str, steps: int, model_dir: str | None) -> tuple[float, int]:
    from seq2seq.config import load_config

    try:
        from seq2seq.data.batching import token_batches
        from seq2seq.model.build import count_parameters
        from seq2seq.train.trainer import Trainer
    except ModuleNotFoundError:  # the flat layout before the consolidation (for --against an older revision)
        from seq2seq.batching import token_batches
        from seq2seq.model.seq2seq import count_parameters
        from seq2seq.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        overrides = [f"model_dir={tmp}/run", "train.threads=0", "data.max_valid=10"]
        if model_dir and (Path(model_dir) / "spm.model").is_file():
            overrides.append(f"data.spm_model={Path(model_dir) / 'spm.model'}")
        cfg = load_config(config, overrides)
        tr = Trainer(cfg, progress=False, log_stream=open(os.devnull, "w"))
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
    from seq2seq.translate import Translator

    settings = {"device": "cpu", "beam": beam, "batch_size": batch_size, "shortlist": shortlist}
    if hasattr(Translator, "load"):
        try:  # the model alone, not the ensemble its config may name (search.ensemble)
            run = Translator.load(model_dir, ensemble=False, **settings).generate
        except TypeError:  # the code before search.ensemble (for --against an older revision)
            run = Translator.load(model_dir, **settings).generate
    else:  # the code before the public API (for --against an older revision)
        run = Translator.from_dir(model_dir, **settings).translate
    run(src[:32])  # warm-up
    tic = time.perf_counter()
    run(src)
    return len(src) / (time.perf_counter() - tic)


def measurements(args) -> list[tuple[str, str, dict]]:
    """(row label, setting, worker job) for every row of the table."""
    rows = [("training", args.config, {"kind": "train"})]
    if Path(args.model).is_dir():
        for beam in (1, 5):
            for shortlist in (True, False):
                rows.append((f"translate, beam {beam}" + ("" if shortlist else ", `--no-shortlist`"),
                             f"{args.model}, {args.sentences} sentences, batch {args.batch_size}",
                             {"kind": "translate", "beam": beam, "shortlist": shortlist}))
    return rows


def work(args, job: dict) -> float:
    """One measurement with the code on sys.path: tokens/s or sentences/s."""
    import torch

    try:
        from seq2seq.data.corpus import read_lines
    except ModuleNotFoundError:  # the flat layout before the consolidation (for --against an older revision)
        from seq2seq.corpus import read_lines

    torch.set_num_threads(args.threads)
    if job["kind"] == "train":
        return train_speed(args.config, args.steps, args.model)[0]
    src = read_lines(args.src)[: args.sentences]
    return translate_speed(args.model, src, job["beam"], args.batch_size, job["shortlist"])


def in_process(args, code: Path, job: dict) -> float:
    """`work` in a fresh Python whose `seq2seq` is the package in `code`."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job), *sys.argv[1:]]
    out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"measurement failed in {code}:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/multi30k-en-de.yaml")
    ap.add_argument("--model", default="checkpoints/multi30k-en-de", help="trained model for translation speed")
    ap.add_argument("--src", default="../shared/data/multi30k/task1/raw/test_2016_flickr.en")
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--against", metavar="GIT_REV", help="also measure this git revision's code, side by side")
    ap.add_argument("--repeats", type=int, default=3, help="with --against: turns each version takes")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(work(args, json.loads(args.worker)))
        return
    import torch

    print(f"\nCPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s)\n")
    if not args.against:
        print("| what | setting | speed |\n|---|---|---|")
        for label, setting, job in measurements(args):
            unit = "target tokens/s" if job["kind"] == "train" else "sentences/s"
            print(f"| {label} | {setting} | {in_process(args, REPO, job):,.1f} {unit} |", flush=True)
        return
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), args.against],
                       check=True, capture_output=True)
        try:
            rev = subprocess.run(["git", "-C", str(old), "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True).stdout.strip()
            print(f"| what | setting | this code: median (runs) | {args.against} ({rev}): median (runs) | ratio |")
            print("|---|---|---|---|---|")
            for label, setting, job in measurements(args):
                new_runs, old_runs = [], []
                for _ in range(args.repeats):  # the versions take turns
                    new_runs.append(in_process(args, REPO, job))
                    old_runs.append(in_process(args, old, job))
                new, prev = statistics.median(new_runs), statistics.median(old_runs)
                runs = lambda xs: " / ".join(f"{x:,.1f}" for x in xs)  # noqa: E731
                print(f"| {label} | {setting} | {new:,.1f} ({runs(new_runs)}) | {prev:,.1f} ({runs(old_runs)}) | "
                      f"{new / prev:.2f} |", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], capture_output=True)


if __name__ == "__main__":
    main()
