"""The report's model card section: architecture and data from config.yaml, decoding speed and hardware of this
run, and the model folder's own card.md rendered from its Markdown."""

from __future__ import annotations

import dataclasses
import os
import platform
from pathlib import Path

import torch

from seq2seq.modeldir import weights_file
from seq2seq.report.document import Cell, Doc, esc, md_escape, num
from seq2seq.report.sections import Evaluation

IMAGE_ONLY = {"backbone", "backbone_weights", "pretrained", "finetune_blocks"}
TEXT_ONLY = {"bidirectional", "enc_layers", "deep_input", "share_embeddings"}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def section_card(doc: Doc, ev: Evaluation, train_summary: dict) -> None:
    doc.section("model-card", "Model card")
    _architecture(doc, ev)
    _data(doc, ev, train_summary)
    _runtime(doc, ev)
    card = ev.system.model_dir / "card.md"
    doc.h3("card.md")
    if card.is_file():
        doc.markdown(card.read_text(encoding="utf-8", errors="replace"))
    else:
        doc.p("This model directory has no card.md.")


def _architecture(doc: Doc, ev: Evaluation) -> None:
    m = dataclasses.asdict(ev.system.config.model)
    skip = TEXT_ONLY if m["encoder"] == "image" else IMAGE_ONLY
    doc.h3("Architecture (config.yaml)")
    pairs = [(f"model.{k}", str(v)) for k, v in m.items() if k not in skip]
    per_row = 3  # key/value pairs side by side: a short table instead of a long one
    rows = [sum(([Cell(esc(k), md_escape(k), "key"), v] for k, v in pairs[i : i + per_row]), [])
            for i in range(0, len(pairs), per_row)]
    for r in rows:
        r += ["", ""] * (per_row - len(r) // 2)
    doc.table(["setting", "value"] * per_row, rows, "arch")
    n_params = ev.system.n_params()
    rows = [["model directory", str(ev.system.model_dir)], ["weights", weights_file(ev.system.model_dir).name],
            ["parameters", num(f"{n_params:,}")], list(ev.system.vocabulary()), *ev.system.fusion()]
    doc.table(["", "value"], rows)


def _data(doc: Doc, ev: Evaluation, train_summary: dict) -> None:
    doc.h3("Data")
    d = dataclasses.asdict(ev.system.config.data)
    keys = (["dataset", "root", "train", "valid", "images_dir", "image_size"] if ev.test.task == "caption" else
            ["train_src", "train_tgt", "train", "valid_src", "valid_tgt", "valid", "src_lang", "tgt_lang"])
    keys += ["spm_type", "vocab_size", "joint_vocab", "max_len"]
    rows = [[f"data.{k}", str(d[k])] for k in keys if d.get(k) is not None]
    rows += [[f"evaluated on: {k}", v] for k, v in ev.test.described]
    if train_summary:
        rows.append(["training steps (log.jsonl)", str(train_summary["steps"])])
    doc.table(["", "value"], rows)


def _runtime(doc: Doc, ev: Evaluation) -> None:
    doc.h3("Decoding and hardware")
    s, dev = ev.system.search, ev.system.device
    n = len(ev.hyps)
    speed = n / ev.seconds if ev.seconds > 0 else float("inf")
    dev_name = str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else "")
    shortlist = ""
    if ev.test.task == "translate":
        shortlist = ", lexical shortlist" if ev.system.uses_shortlist() else ", whole vocabulary"
    lm = f", shallow fusion with {s.lm} x {s.lm_weight:g}" if s.lm and s.lm_weight else ""
    rows = [["search", f"beam {s.beam}, alpha {s.alpha}, max length {s.max_len_ratio} x source + {s.max_len_offset}, "
                       f"batch {s.batch_size}{shortlist}{lm}"],
            ["decode speed", num(f"{speed:,.1f} {ev.items}/s ({n} in {ev.seconds:.2f} s)")],
            ["device", dev_name], ["torch", f"{torch.__version__}, CPU threads: {torch.get_num_threads()}"],
            ["CPU", f"{cpu_name()} ({os.cpu_count()} logical cores)"],
            ["platform", f"{platform.platform()}, Python {platform.python_version()}"]]
    doc.table(["", "value"], rows, "card-runtime")
