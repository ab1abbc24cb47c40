"""Scaling out: for a corpus of 1x, 10x and 100x Multi30k's training pairs, the time to prepare the data (tokenizer,
token store, shortlist) the first and the second time, the peak RSS of the training process over its first steps,
and training target tokens/s; then 1 vs 2 processes (torchrun, gloo on the CPU) on 1x at equal global batch; and,
where CUDA is present, 1 GPU against `torchrun --nproc_per_node 1`.

    python bench/scale.py                       # 1x 10x 100x, 200 steps each (about 20 minutes on 2 CPU cores)
    python bench/scale.py --scales 1 10 --steps 50

The Nx corpus is Multi30k's 29,000 pairs N times: the original once, then copies whose words are shuffled within
each sentence (each copy its own order), so that subword lengths vary. Every run is its own process, measured
from outside: peak RSS from wait4 (file pages mapped in count too: the memory-mapped token store's pages, which
the kernel can drop, up to the store's size) and the peak anonymous RSS (the heap) sampled every 0.1 s.
Preparation is timed inside the process (from reading the config to a ready task; interpreter start-up and
imports excluded). Training uses the shipped recipe's data settings with a small model (--model-set), so that
200 steps take seconds; the data side, which is what grows, is the recipe's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RAW = REPO.parent / "shared" / "data" / "multi30k" / "task1" / "raw"
SMALL_MODEL = ["model.emb_dim=64", "model.hidden=128", "model.enc_layers=1", "train.batch_tokens=1500",
               "train.threads=1"]
PREPARE = """
import sys, time
from seq2seq.config import load_config
from seq2seq.train.tasks.text import TextTask
from pathlib import Path
t = time.perf_counter()
cfg = load_config(sys.argv[1], sys.argv[2:])
Path(cfg.model_dir).mkdir(parents=True)
task = TextTask(cfg, Path(cfg.model_dir), log=lambda m: None)
print(time.perf_counter() - t, len(task.src))
"""


def make_corpus(folder: Path, scale: int) -> tuple[Path, Path]:
    """Multi30k's training pairs `scale` times: as they are, then with each sentence's words shuffled."""
    src, tgt = folder / f"train.{scale}x.en", folder / f"train.{scale}x.de"
    if src.is_file() and tgt.is_file():
        return src, tgt
    en = (RAW / "train.en").read_text(encoding="utf-8").splitlines()
    de = (RAW / "train.de").read_text(encoding="utf-8").splitlines()
    rng = random.Random(scale)

    def shuffled(line: str) -> str:
        words = line.split()
        rng.shuffle(words)
        return " ".join(words)

    with open(src, "w", encoding="utf-8") as fs, open(tgt, "w", encoding="utf-8") as ft:
        for copy in range(scale):
            fs.writelines((s if copy == 0 else shuffled(s)) + "\n" for s in en)
            ft.writelines((t if copy == 0 else shuffled(t)) + "\n" for t in de)
    return src, tgt


def _tree(pid: int) -> list[int]:
    """`pid` and the processes below it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        out.append(todo.pop())
        todo += children.get(out[-1], [])
    return out


def _sample_anonymous(pid: int, stop: threading.Event, peak: list[float]) -> None:
    """The largest anonymous RSS (heap, not file pages) of any process in `pid`'s tree, every 0.1 s."""
    while not stop.wait(0.1):
        for p in _tree(pid):
            try:
                kb = int(re.search(r"RssAnon:\s+(\d+)", Path(f"/proc/{p}/status").read_text()).group(1))
            except (OSError, AttributeError):
                continue
            peak[0] = max(peak[0], kb / 1024)


def run(cmd: list[str], cwd: Path) -> tuple[str, str, float, float, float]:
    """(stdout, stderr, wall seconds, peak RSS of the process and its children in MB (ru_maxrss: file pages
    mapped in, such as the memory-mapped token store, count too), peak anonymous RSS of one of them in MB)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        tic = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        stop, anon = threading.Event(), [0.0]
        sampler = threading.Thread(target=_sample_anonymous, args=(proc.pid, stop, anon), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - tic
        stop.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{stderr[-3000:]}")
    return stdout, stderr, wall, usage.ru_maxrss / 1024, anon[0]


def torchrun(nproc: int) -> list[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_addr",
            "127.0.0.1", "--master_port", str(port)]


def train(work: Path, name: str, data: list[str], steps: int, launcher: list[str], *more: str) -> dict:
    """One training run of `steps` steps on a warm cache: peak RSS, median target tokens/s of its log rows
    (wall clock, batch assembly included), and its logged training losses."""
    model_dir = work / "runs" / name
    sets = [f"model_dir={model_dir}", f"train.max_steps={steps}", "train.log_every=10", f"train.valid_every={steps}",
            "data.max_valid=100", *data, *more]
    _, _, wall, rss, anon = run([*launcher, "-m", "seq2seq", "train", str(REPO / "configs" / "multi30k-en-de.yaml"),
                                 "--set", *sets], work)
    rows = [json.loads(line) for line in open(model_dir / "log.jsonl")]
    train_rows = [r for r in rows if r["type"] == "train"]
    rates = sorted(r["tok_s"] for r in train_rows[1:]) or [0.0]
    return {"rss": rss, "anon": anon, "tok_s": rates[len(rates) // 2], "losses": [r["loss"] for r in train_rows],
            "wall": wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--work", type=Path, default=None, help="folder for the corpora, cache and runs (default: temp)")
    ap.add_argument("--spm-sample", type=int, default=200_000, help="data.spm_sample (sentences to train spm on)")
    ap.add_argument("--model-set", nargs="*", default=SMALL_MODEL, help="config overrides for the model")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder {work}; model overrides {' '.join(args.model_set)}; data.spm_sample={args.spm_sample}",
          file=sys.stderr)
    rows, ones = [], {}
    for scale in args.scales:
        src, tgt = make_corpus(work, scale)
        data = [f"data.train_src={src}", f"data.train_tgt={tgt}", f"data.valid_src={RAW / 'val.en'}",
                f"data.valid_tgt={RAW / 'val.de'}", f"data.cache_dir={work / 'cache'}",
                f"data.spm_sample={args.spm_sample}", *args.model_set]
        prep = []
        for attempt in ("first", "second"):
            cfg = [f"model_dir={work / 'prep' / f'{scale}x-{attempt}'}", *data]
            out, _, _, rss, _ = run([sys.executable, "-c", PREPARE, str(REPO / "configs" / "multi30k-en-de.yaml"),
                                     *cfg], work)
            seconds, pairs = out.split()
            prep.append((float(seconds), rss, int(pairs)))
            print(f"{scale}x: prepared ({attempt}) in {float(seconds):.1f} s, peak RSS {rss:.0f} MB", file=sys.stderr)
        t = train(work, f"{scale}x", data, args.steps, [sys.executable])
        print(f"{scale}x: trained {args.steps} steps, peak RSS {t['rss']:.0f} MB (anonymous {t['anon']:.0f} MB), "
              f"{t['tok_s']:.0f} tok/s", file=sys.stderr)
        rows.append((scale, prep, t))
        if scale == 1:
            ones = {"data": data, "one": t}
    print(f"\n| corpus | pairs kept | prepare, 1st | prepare, 2nd | 2nd / 1st | peak RSS, 1st preparation | "
          f"peak RSS, training {args.steps} steps (anonymous) | train tgt tok/s |")
    print("|---|---|---|---|---|---|---|---|")
    for scale, prep, t in rows:
        print(f"| {scale}x | {prep[0][2]:,} | {prep[0][0]:.1f} s | {prep[1][0]:.1f} s | {prep[1][0] / prep[0][0]:.1%} "
              f"| {prep[0][1]:.0f} MB | {t['rss']:.0f} MB ({t['anon']:.0f} MB) | {t['tok_s']:,.0f} |")
    if len(rows) > 1:
        last, first = rows[-1][2], rows[0][2]
        print(f"\npeak training RSS {rows[-1][0]}x / {rows[0][0]}x: {last['rss'] / first['rss']:.2f} "
              f"(anonymous: {last['anon'] / first['anon']:.2f})")
    if ones:
        processes(work, ones, args.steps)


def processes(work: Path, ones: dict, steps: int) -> None:
    """1 process (and 1 process accumulating 2 batches: the same global batch as 2 processes) against 2 gloo
    processes on the 1x corpus; with CUDA, 1 GPU against torchrun --nproc_per_node 1."""
    data = ones["data"]
    acc = train(work, "1x-accum2", data, steps, [sys.executable], "train.accum_steps=2")
    two = train(work, "1x-2proc", data, steps, torchrun(2))
    runs = [("1 process", "1", ones["one"], None), ("1 process, train.accum_steps=2", "2", acc, None),
            ("torchrun --nproc_per_node 2 (gloo)", "2", two, acc)]
    import torch

    if torch.cuda.is_available():
        gpu = [d for d in data if not d.startswith("train.threads")] + ["train.device=cuda"]
        one_gpu = train(work, "1x-gpu", gpu, steps, [sys.executable])
        runs += [("1 GPU", "1", one_gpu, None),
                 ("torchrun --nproc_per_node 1 (GPU)", "1", train(work, "1x-gpu-tr", gpu, steps, torchrun(1)), one_gpu)]
    print("\n| 1x corpus | batches per update | train tgt tok/s | peak RSS (anonymous, one process) | loss curve "
          "against the same global batch (largest relative difference of the logged losses) |")
    print("|---|---|---|---|---|")
    for name, per_update, t, ref in runs:
        diff = "" if ref is None else f"{max(abs(a - b) / b for a, b in zip(t['losses'], ref['losses'])):.2%}"
        print(f"| {name} | {per_update} | {t['tok_s']:,.0f} | {t['rss']:.0f} MB ({t['anon']:.0f} MB) | {diff} |")


if __name__ == "__main__":
    main()
