"""Our RNN seq2seq vs JoeyNMT's RNN recipe, side by side on Multi30k en->de: same data, same sentencepiece
vocabulary, about the same model size, the same wall-clock training budget on this machine. Reports test2016
BLEU, training target tokens/s and beam-5 translation sentences/s as one Markdown table (also --out/table.md),
for the issue's targets: ours >= 1.5x JoeyNMT's training tokens/s and >= 2x its beam-5 sentences/s.

    .venv/bin/python bench/joeynmt_compare.py (--minutes M | --skip-train) [--threads 2]
        [--joey-python /work/joey-venv/bin/python] [--root ../shared/data/multi30k]
        [--spm checkpoints/multi30k-en-de/spm.model] [--out runs/joeynmt-compare]

JoeyNMT runs from its own venv (its dependencies are not ours), through bench/joeynmt/joey_helper.py, which
also bridges JoeyNMT 2.3.0's three incompatibilities with what pip installs today (see its compat()):

    python3 -m venv /work/joey-venv && /work/joey-venv/bin/pip install torch==2.14.1 joeynmt

Steps, one process at a time, each on the CPU with --threads torch threads:
1. JoeyNMT inputs from our sentencepiece model (--out/data): a vocabulary file of our pieces in id order, the
   special symbols as our pieces, both sides tokenized by our spm.model, and the plain-text splits as symlinks.
2. JoeyNMT config (--out/joey.yaml): bench/joeynmt/multi30k_en_de_rnn.yaml, its RNN recipe at our size, with
   the paths filled in.
3. Training, ours then JoeyNMT's, M minutes each, validations inside the budget. Ours stops itself
   (train.max_minutes), then validates and saves. JoeyNMT has no time limit: it gets SIGINT M minutes after
   its first epoch starts, on which it saves its weights as latest.ckpt; those are validated once more with
   its own validation, like ours' closing one (and that time is counted), and tested if their dev BLEU is at
   least that of its best.ckpt, else best.ckpt is. --skip-train reuses both runs in --out.
4. Test: the 1,000 test_2016_flickr sentences, beam 5, alpha 1.0 (both the GNMT length penalty), batches of
   64 sentences, timed from raw lines to the detokenized file written (model loaded), then scored with the
   same sacreBLEU call (13a, cased and lowercased) against the raw references. Ours three ways: as shipped
   (float32 with its lexical shortlist), --no-shortlist (the whole vocabulary) and int8 --quantize. Every
   system is tested --repeats times, taking turns, and its median speed is reported: this machine's speed
   drifts by up to a third from minute to minute.

Training target tokens/s, the same definition for both: target tokens (sentencepiece pieces + EOS; no BOS,
no padding; both toolkits count exactly these) per second of wall time over logging windows of 10 updates
(batch preparation included), averaged over the windows, leaving out those that hold a validation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sacrebleu
import sentencepiece as spm
import torch
import yaml

from seq2seq import __version__ as ours_version
from seq2seq.metrics import corpus_scores
from seq2seq.model.build import count_parameters
from seq2seq.translate import Translator

REPO = Path(__file__).resolve().parents[1]
HELPER = REPO / "bench" / "joeynmt" / "joey_helper.py"
RECIPE = REPO / "bench" / "joeynmt" / "multi30k_en_de_rnn.yaml"
OUR_CONFIG = REPO / "configs" / "multi30k-en-de.yaml"
SPLITS = {"train": "train", "dev": "val", "test": "test_2016_flickr"}  # JoeyNMT prefix -> Multi30k name
BEAM, ALPHA, BATCH = 5, 1.0, 64  # test decoding, both systems (JoeyNMT's from the recipe's `testing`)
JOEY_START = "joeynmt.training - EPOCH 1\n"  # train.log line at which JoeyNMT's budget starts
JOEY_STEP = re.compile(r"Step:\s+(\d+),.*Tokens per Sec:\s+(\d+)")


class BenchError(Exception):
    """Shown as one `error:` line, exit code 2."""


def read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def last_line(path: Path) -> str:
    lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "(empty log)"


def thread_env(threads: int) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def joey(args, mode: str, *argv: str, log: Path) -> dict:
    """Run one helper mode with JoeyNMT's python; its JSON answer (JoeyNMT's logs go to `log`)."""
    with open(log, "w") as err:
        try:
            r = subprocess.run([args.joey_python, str(HELPER), mode, *argv, "--threads", str(args.threads)],
                               stdout=subprocess.PIPE, stderr=err, text=True, env=thread_env(args.threads),
                               cwd=args.out, check=False)
        except OSError as e:
            raise BenchError(f"cannot run {args.joey_python}: {e.strerror}") from None
    if r.returncode != 0:
        raise BenchError(f"JoeyNMT {mode} failed (exit {r.returncode}): {last_line(log)} (log: {log})")
    return json.loads(r.stdout.strip().splitlines()[-1])


def check_inputs(args) -> dict[str, Path]:
    """Paths of the Multi30k files, after checking that everything the benchmark needs is there."""
    if not Path(args.joey_python).is_file():
        raise BenchError(f"JoeyNMT python not found: {args.joey_python} (make it with `python3 -m venv "
                         f"/work/joey-venv && /work/joey-venv/bin/pip install torch==2.14.1 joeynmt`, "
                         f"or pass --joey-python)")
    raw = Path(args.root).resolve() / "task1" / "raw"
    files = {f"{split}.{lang}": raw / f"{name}.{lang}" for split, name in SPLITS.items() for lang in ("en", "de")}
    for path in files.values():
        if not path.is_file():
            raise BenchError(f"Multi30k file missing: {path} (give the folder holding task1/raw with --root)")
    if not Path(args.spm).is_file():
        raise BenchError(f"sentencepiece model not found: {args.spm}")
    return files


def prepare_joey(args, files: dict[str, Path]) -> Path:
    """JoeyNMT's data folder (symlinks), vocabulary and config under --out, all from our sentencepiece model."""
    data = args.out / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, target in files.items():
        link = data / name
        link.unlink(missing_ok=True)
        link.symlink_to(target.resolve())
    sp = spm.SentencePieceProcessor(model_file=str(args.spm))
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    (data / "vocab.txt").write_text("".join(p + "\n" for p in pieces), encoding="utf-8")
    # JoeyNMT 2.3.0 always puts unk, pad, bos, eos first, in that order (Vocabulary asserts it), so its unk and
    # pad ids are ours swapped; every other piece keeps our id.
    specials = {"unk_token": pieces[sp.unk_id()], "unk_id": 0, "pad_token": pieces[sp.pad_id()], "pad_id": 1,
                "bos_token": pieces[sp.bos_id()], "bos_id": 2, "eos_token": pieces[sp.eos_id()], "eos_id": 3}
    cfg = yaml.safe_load(RECIPE.read_text())
    cfg["model_dir"] = str(args.out / "joey")
    cfg["data"].update({split: str(data / split) for split in SPLITS})
    cfg["data"]["special_symbols"] = specials
    for side in ("src", "trg"):
        cfg["data"][side].update(voc_file=str(data / "vocab.txt"), tokenizer_cfg={"model_file": str(args.spm)})
    path = args.out / "joey.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def train_ours(args, files: dict[str, Path], log_every: int) -> dict:
    log = args.out / "ours-train.log"
    sets = [f"model_dir={args.out / 'ours'}", f"data.spm_model={args.spm}", f"train.max_minutes={args.minutes}",
            f"train.threads={args.threads}", f"train.log_every={log_every}", "train.device=cpu",
            f"data.train_src={files['train.en']}", f"data.train_tgt={files['train.de']}",
            f"data.valid_src={files['dev.en']}", f"data.valid_tgt={files['dev.de']}"]
    with open(log, "w") as err:
        r = subprocess.run([sys.executable, "-m", "seq2seq", "train", str(OUR_CONFIG), "--set", *sets],
                           stdout=subprocess.PIPE, stderr=err, text=True, env=thread_env(args.threads), cwd=REPO,
                           check=False)
    if r.returncode != 0:
        raise BenchError(f"our training failed (exit {r.returncode}): {last_line(log)} (log: {log})")
    s = json.loads(r.stdout.strip().splitlines()[-1])
    return {"minutes": s["minutes"], "updates": s["step"]}


def wait_for_start(proc: subprocess.Popen, train_log: Path, log: Path, timeout: float = 600) -> float:
    """The time at which JoeyNMT's train.log says its first epoch began."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if train_log.is_file() and JOEY_START in train_log.read_text(encoding="utf-8", errors="replace"):
            return time.monotonic()
        if proc.poll() is not None:
            raise BenchError(f"JoeyNMT stopped before training (exit {proc.returncode}): {last_line(log)} "
                             f"(log: {log})")
        time.sleep(0.1)
    raise BenchError(f"JoeyNMT did not start training within {timeout:.0f} s (log: {log})")


def train_joey(args, config: Path) -> dict:
    model_dir, log = args.out / "joey", args.out / "joey-train.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([args.joey_python, str(HELPER), "train", str(config), "--threads", str(args.threads)],
                                stdout=out, stderr=subprocess.STDOUT, env=thread_env(args.threads), cwd=args.out,
                                start_new_session=True)  # a Ctrl-C here must not reach it unannounced
    try:
        start = wait_for_start(proc, model_dir / "train.log", log)
        deadline = start + args.minutes * 60
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(min(1.0, deadline - time.monotonic()))
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # JoeyNMT catches it, saves latest.ckpt and exits normally
        try:
            rc = proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            raise BenchError(f"JoeyNMT did not stop within 300 s of SIGINT; killed it (log: {log})") from None
        stopped = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if rc != 0:
        raise BenchError(f"JoeyNMT training failed (exit {rc}): {last_line(log)} (log: {log})")
    v = joey(args, "validate", str(model_dir / "config.yaml"), str(model_dir / "latest.ckpt"),
             log=args.out / "joey-validate.log")
    ckpt = "best.ckpt" if v["best_step"] and v["best_bleu"] > v["bleu"] else "latest.ckpt"
    return {"minutes": (stopped - start + v["seconds"]) / 60, "updates": v["steps"], "ckpt": ckpt,
            "final_dev_bleu": v["bleu"], "best_dev_bleu": v["best_bleu"], "best_step": v["best_step"]}


def window_mean(windows: list[tuple[int, float]], log_every: int, valid_every: int) -> tuple[float | None, int]:
    """Mean tokens/s over (end step, tokens/s) logging windows, leaving out those that hold a validation."""
    clean = [r for step, r in windows if not (step > log_every and (step - log_every) % valid_every == 0)]
    return (sum(clean) / len(clean) if clean else None), len(clean)


def ours_windows(log_jsonl: Path) -> list[tuple[int, float]]:
    records = [json.loads(line) for line in log_jsonl.read_text().splitlines()]
    return [(r["step"], r["tok_s"]) for r in records if r["type"] == "train"]


def joey_windows(train_log: Path) -> list[tuple[int, float]]:
    return [(int(m[1]), float(m[2])) for m in JOEY_STEP.finditer(train_log.read_text(encoding="utf-8"))]


def ensure_shortlist(args, files: dict[str, Path]) -> None:
    """Runs trained before the lexical shortlist existed get one now, as `seq2seq train` makes it today."""
    from seq2seq.decode.shortlist import Shortlist, build

    if Shortlist.load(args.out / "ours") is None:
        say("ours has no shortlist.pt (trained before it existed): building it from the training data")
        build(args.out / "ours", read_lines(files["train.en"]), read_lines(files["train.de"]))


def test_ours(args, src: list[str], hyp_file: Path, quantize: bool = False, shortlist: bool = True) -> dict:
    torch.set_num_threads(args.threads)
    tr = Translator.load(args.out / "ours", device="cpu", quantize=quantize, beam=BEAM, alpha=ALPHA,
                             batch_size=BATCH, shortlist=shortlist)
    tic = time.perf_counter()
    hyps = [t.text for t in tr.generate(src)]
    hyp_file.write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    return {"seconds": time.perf_counter() - tic, "parameters": count_parameters(tr.model)}


def test_joey(args, src_file: Path, hyp_file: Path, ckpt: str) -> dict:
    model_dir = args.out / "joey"
    r = joey(args, "translate", str(model_dir / "config.yaml"), str(model_dir / ckpt), str(src_file), str(hyp_file),
             log=args.out / "joey-test.log")
    if (r["beam"], r["alpha"], r["batch_size"], r["batch_type"]) != (BEAM, ALPHA, BATCH, "sentence"):
        raise BenchError(f"JoeyNMT's config tests with beam {r['beam']}, alpha {r['alpha']}, batch {r['batch_size']} "
                         f"{r['batch_type']}s; the benchmark needs {BEAM}, {ALPHA}, {BATCH} sentences")
    return r


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        out = ""
    m = re.search(r"^Model name:\s*(.+)$", out, re.MULTILINE)
    return m[1].strip() if m else (platform.processor() or platform.machine())


def fmt(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None else f"{x:,.{digits}f}"


def ratio(a: float | None, b: float | None, target: float) -> str:
    if a is None or b is None:
        return "n/a"
    return f"x{a / b:.2f} (target >= {target:g}: {'met' if a / b >= target else 'not met'})"


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def score_row(name: str, run: dict, test: dict, hyp_file: Path, refs: list[str], windows: list[tuple[int, float]],
              log_every: int, valid_every: int) -> dict:
    hyps = read_lines(hyp_file)
    if len(hyps) != len(refs):
        raise BenchError(f"{hyp_file} has {len(hyps)} lines for {len(refs)} references")
    cased = corpus_scores(hyps, refs, metrics=("bleu",))["bleu"]
    lc = corpus_scores(hyps, refs, lowercase=True, metrics=("bleu",))["bleu"]
    tok_s, n_windows = window_mean(windows, log_every, valid_every)
    speeds = [len(refs) / sec for sec in test["runs"]]
    return {"system": name, "parameters": test["parameters"], "minutes": run["minutes"], "updates": run["updates"],
            "tok_s": tok_s, "windows": n_windows, "bleu": cased.score, "bleu_lc": lc.score,
            "sent_s": statistics.median(speeds), "speeds": speeds, "signature": cased.signature}


def report(ours: dict, ours_full: dict, ours_q: dict, joey_row: dict, runs: dict, recipe: dict, args, versions: dict,
           command: str) -> str:
    enc, dec, joey_run, minutes = recipe["model"]["encoder"], recipe["model"]["decoder"], runs["joey"], runs["minutes"]
    best = (f"best.ckpt {joey_run['best_dev_bleu']:.2f} at step {joey_run['best_step']}" if joey_run["best_step"]
            else "no best.ckpt: no validation within the budget")
    size = joey_row["parameters"] / ours["parameters"] - 1
    columns = ("system", "parameters", "train minutes used", "updates", "train target tok/s", "test2016 BLEU",
               "BLEU (lc)", "beam-5 sentences/s")
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in (ours, ours_full, ours_q, joey_row):
        lines.append(f"| {r['system']} | {r['parameters']:,} | {r['minutes']:.2f} | {r['updates']:,} | "
                     f"{fmt(r['tok_s'], 0)} | {r['bleu']:.2f} | {r['bleu_lc']:.2f} | {r['sent_s']:.2f} |")
    lines.append("")
    lines.append(f"ours / JoeyNMT: training target tok/s {ratio(ours['tok_s'], joey_row['tok_s'], 1.5)}; "
                 f"beam-5 sentences/s {ratio(ours['sent_s'], joey_row['sent_s'], 2)}; without the shortlist "
                 f"{ratio(ours_full['sent_s'], joey_row['sent_s'], 2)}; with int8 "
                 f"(`--quantize`, the same trained weights) {ratio(ours_q['sent_s'], joey_row['sent_s'], 2)}.")
    lines.append(f"Hardware: {cpu_name()}, {os.cpu_count()} logical CPUs; torch threads {runs['threads']} for "
                 f"training, {args.threads} for tests, one run at a time. Versions: ours torch {torch.__version__}; "
                 f"JoeyNMT {versions['joeynmt']} on torch {versions['torch']}; sacrebleu {sacrebleu.__version__} "
                 f"(scoring both).")
    redone = f"; tests redone with `{command}`" if command != runs["command"] else ""
    lines.append(f"Command: `{runs['command']}`{redone}")
    lines.append("")
    lines.append(f"- Size: JoeyNMT ties the softmax to the target embeddings only when embedding size = decoder "
                 f"hidden size (no projection before its output layer), so it runs at "
                 f"{enc['embeddings']['embedding_dim']}/{dec['hidden_size']} (ours: embeddings 256, decoder 512, "
                 f"deep output to 256, tied) with our encoder ({enc['num_layers']} bidirectional LSTM layers, "
                 f"{enc['hidden_size']} per direction): {size:+.1%} parameters vs ours, the closest tied size "
                 f"(see {RECIPE.relative_to(REPO)}).")
    lines.append("- Vocabulary: our spm model and its pieces on both sides; JoeyNMT 2.3.0 always numbers its "
                 "specials unk, pad, bos, eos, so its <unk>/<pad> ids are 0/1 (ours 1/0); all other ids are ours.")
    lines.append(f"- Budget: {minutes:g} min each, validations inside. Ours stops itself, validates and saves; "
                 f"JoeyNMT gets SIGINT {minutes:g} min after its first epoch starts and saves latest.ckpt, which "
                 f"is validated once more (counted in its minutes; dev BLEU {joey_run['final_dev_bleu']:.2f}, "
                 f"{best}). Tested: ours best.pt, JoeyNMT {joey_run['ckpt']}.")
    lines.append(f"- Train target tok/s: target pieces + EOS (no BOS, no padding) per second of wall time, batching "
                 f"included, mean over windows of {recipe['training']['logging_freq']} updates without a "
                 f"validation ({ours['windows']} ours, {joey_row['windows']} JoeyNMT).")
    lines.append(f"- Sentences/s: {BATCH}-sentence batches (ours length-sorted, JoeyNMT in file order), beam {BEAM}, "
                 f"alpha {ALPHA:g}, default length limits (ours 2 x source + 10, JoeyNMT 1.5 x longest source in "
                 f"the batch); time from raw lines to detokenized file, model loaded; the median of "
                 f"{args.repeats} runs, the systems taking turns. All runs: " + "; ".join(
                     f"{r['system'].split(' (')[0]} " + " / ".join(f"{x:.1f}" for x in r["speeds"])
                     for r in (ours, ours_full, ours_q, joey_row)) + ".")
    lines.append("- Ours decodes with its lexical shortlist (the default: IBM Model 1 on the training pairs, top 30 "
                 "targets per source piece + the 300 most frequent, per batch; seq2seq/decode/shortlist.py); the "
                 "`--no-shortlist` row scores the whole vocabulary. All rows are float32 but int8's.")
    lines.append(f"- BLEU: `{ours['signature']}` (and lowercased), detokenized output vs raw references.")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, help="wall-clock training budget per system (not with --skip-train)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for every run (default 2)")
    ap.add_argument("--joey-python", default="/work/joey-venv/bin/python", help="python of JoeyNMT's venv")
    ap.add_argument("--root", default="../shared/data/multi30k", help="Multi30k folder (holding task1/raw)")
    ap.add_argument("--spm", default="checkpoints/multi30k-en-de/spm.model", help="our sentencepiece model")
    ap.add_argument("--out", default="runs/joeynmt-compare", help="work folder (runs, logs, outputs, table)")
    ap.add_argument("--skip-train", action="store_true", help="reuse the runs in --out; redo only the tests")
    ap.add_argument("--repeats", type=int, default=3, help="test runs per system; the median counts (default 3)")
    args = ap.parse_args()
    if (args.minutes is None) != args.skip_train:
        raise BenchError("give --minutes to train, or --skip-train (without --minutes) to reuse the runs in --out")
    if args.threads < 1 or args.repeats < 1 or (args.minutes is not None and args.minutes <= 0):
        raise BenchError("--minutes must be > 0, --threads and --repeats >= 1")
    command = shlex.join([os.path.relpath(sys.executable), *sys.argv])
    args.out, args.spm = Path(args.out).resolve(), Path(args.spm).resolve()
    files = check_inputs(args)
    args.out.mkdir(parents=True, exist_ok=True)
    versions = joey(args, "info", log=args.out / "joey-info.log")
    log_every = yaml.safe_load(RECIPE.read_text())["training"]["logging_freq"]
    runs_file = args.out / "runs.json"
    if args.skip_train:
        if not runs_file.is_file():
            raise BenchError(f"--skip-train: no finished runs in {args.out} ({runs_file.name} is missing)")
        runs = json.loads(runs_file.read_text())
    else:
        for name in ("ours", "joey"):
            if (args.out / name).exists():
                raise BenchError(f"{args.out / name} exists: remove it, choose another --out, or add --skip-train")
        config = prepare_joey(args, files)
        say(f"training ours for {args.minutes:g} min ({args.out / 'ours-train.log'})")
        ours_run = train_ours(args, files, log_every)
        say(f"training JoeyNMT for {args.minutes:g} min ({args.out / 'joey-train.log'})")
        runs = {"command": command, "minutes": args.minutes, "threads": args.threads, "ours": ours_run,
                "joey": train_joey(args, config)}
        runs_file.write_text(json.dumps(runs, indent=1))

    recipe = yaml.safe_load((args.out / "joey" / "config.yaml").read_text())  # the one JoeyNMT trained with
    src, refs = read_lines(files["test.en"]), read_lines(files["test.de"])
    ensure_shortlist(args, files)
    tests = {  # each system's test, run --repeats times in turn, so that a slow spell of the machine hits all
        "ours": lambda: test_ours(args, src, args.out / "ours.test2016.de"),
        "full": lambda: test_ours(args, src, args.out / "ours-full.test2016.de", shortlist=False),
        "int8": lambda: test_ours(args, src, args.out / "ours-int8.test2016.de", quantize=True),
        "joey": lambda: test_joey(args, files["test.en"], args.out / "joey.test2016.de", runs["joey"]["ckpt"]),
    }
    results: dict[str, dict] = {}
    for r in range(args.repeats):
        for name, test in tests.items():
            say(f"translating test2016: {name} (run {r + 1} of {args.repeats})")
            res = test()
            results.setdefault(name, res).setdefault("runs", []).append(res["seconds"])
    ours_test, ours_full_test, ours_q_test, joey_test = (results[k] for k in tests)
    ours_valid = yaml.safe_load(OUR_CONFIG.read_text())["train"]["valid_every"]
    windows = ours_windows(args.out / "ours" / "log.jsonl")
    ours = score_row(f"ours (seq2seq {ours_version})", runs["ours"], ours_test, args.out / "ours.test2016.de", refs,
                     windows, log_every, ours_valid)
    ours_full = score_row("ours, `--no-shortlist`", runs["ours"], ours_full_test, args.out / "ours-full.test2016.de",
                          refs, windows, log_every, ours_valid)
    ours_q = score_row("ours, int8 `--quantize`", runs["ours"], ours_q_test, args.out / "ours-int8.test2016.de",
                       refs, windows, log_every, ours_valid)
    ours_q["parameters"] = ours["parameters"]  # the same weights, int8-packed (not counted as parameters)
    joey_row = score_row(f"JoeyNMT {versions['joeynmt']}", runs["joey"], joey_test, args.out / "joey.test2016.de",
                         refs, joey_windows(args.out / "joey" / "train.log"), recipe["training"]["logging_freq"],
                         recipe["training"]["validation_freq"])
    table = report(ours, ours_full, ours_q, joey_row, runs, recipe, args, versions, command)
    (args.out / "table.md").write_text(table)
    print("\n" + table, end="")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
