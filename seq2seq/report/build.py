"""`seq2seq report` from start to end: read the inputs, decode, score, compare, write the sections, with a
progress bar on stderr for each long phase (when stderr is a terminal or --progress asks; silent otherwise)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from seq2seq.metrics import bleu_tokenize
from seq2seq.progress import progress_bar
from seq2seq.report.attention import section_attention
from seq2seq.report.card import section_card
from seq2seq.report.decode import System
from seq2seq.report.document import Doc, check_out
from seq2seq.report.inputs import TestSet, read_test_set, system_name
from seq2seq.report.options import ReportOptions
from seq2seq.report.sections import (
    Evaluation,
    section_examples,
    section_length,
    section_scores,
    section_significance,
    section_training,
)
from seq2seq.report.stats import (
    paired_test,
    score_captions,
    score_translation,
    translation_metrics,
)
from seq2seq.version import __version__

SECTIONS = 7  # scores, significance, length, training, examples, attention, model card


def write_report(opts: ReportOptions) -> tuple[Path, Path]:
    """Decode, score, analyse and write the HTML report and its Markdown twin; returns both paths."""
    out = check_out(opts.out)  # before the slow part
    test = read_test_set(opts)
    system = System.load(opts.models, test.task, opts)
    name = system.name
    hyps, seconds = _decode(system, test, opts, f"decoding with {name}")
    ev = Evaluation(test, system, hyps, seconds, _score(test, hyps, opts, _tokenize(system)))
    compare = _baseline(opts, test) if opts.compare else None
    if compare is not None and compare[1] == name:
        compare = (compare[0], compare[1] + " (compared)")
    paired = _paired(ev, compare[0], opts) if compare is not None else None
    kind = "translation" if test.task == "translate" else "captioning"
    doc = Doc(opts.title or f"{name}: {kind} evaluation report")
    with progress_bar(SECTIONS, "writing the report", "section", opts.progress) as bar:
        section_scores(doc, ev, opts.bootstrap)
        if paired is not None:
            section_significance(doc, paired, name, compare[1])
        bar.update()
        section_length(doc, ev, compare)
        bar.update()
        summary = section_training(doc, system.model_dir)
        bar.update()
        section_examples(doc, ev, opts.examples)
        bar.update()
        section_attention(doc, ev, opts.attention)
        bar.update()
        section_card(doc, ev, summary)
        bar.update(2)
    now = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    inputs = ", ".join(f"{k} {v}" for k, v in test.described)
    models = " + ".join(map(str, system.model_dirs))
    meta = [f"model {models}{_lm(system)} · {inputs}", f"generated {now} by seq2seq {__version__}"]
    return doc.write(out, meta)


def _lm(system: System) -> str:
    s = system.search
    return f" · language model {s.lm} x {s.lm_weight:g}" if s.lm and s.lm_weight else ""


def _decode(system: System, test: TestSet, opts: ReportOptions, desc: str) -> tuple[list[str], float]:
    unit = "sentence" if test.task == "translate" else "image"
    with progress_bar(len(test), desc, unit, opts.progress) as bar:
        return system.decode(test.sources, bar.update)


def _tokenize(system: System) -> str:
    """sacreBLEU's tokenizer for the system's output language (zh for Chinese, else 13a)."""
    return bleu_tokenize(system.config.data.tgt_lang)


def _score(test: TestSet, hyps: list[str], opts: ReportOptions, tokenize: str):
    n_metrics = 3 if test.task == "translate" else 5
    with progress_bar(n_metrics, f"scoring ({opts.bootstrap} bootstrap resamples)", "metric", opts.progress) as bar:
        if test.task == "translate":
            return score_translation(hyps, test.streams, opts.lowercase, opts.bootstrap, bar.update, tokenize)
        return score_captions(hyps, test.streams, test.refs, opts.bootstrap, bar.update)


def _baseline(opts: ReportOptions, test: TestSet) -> tuple[list[str], str]:
    """--compare's hypotheses and name: the hypothesis file read with the inputs, or a model decoded now."""
    if test.baseline is not None:
        return test.baseline, system_name(Path(opts.compare))
    other = System.load(opts.compare, test.task, opts, flag="--compare")
    name = other.name
    return _decode(other, test, opts, f"decoding with {name} (--compare)")[0], name


def _paired(ev: Evaluation, baseline: list[str], opts: ReportOptions) -> list[dict]:
    from sacrebleu.metrics import BLEU  # lazy: keeps start-up fast

    metrics = ({"BLEU": BLEU(max_ngram_order=4, lowercase=True)} if ev.test.task == "caption" else
               translation_metrics(opts.lowercase, _tokenize(ev.system)))
    with progress_bar(len(metrics), f"paired bootstrap ({opts.bootstrap} resamples)", "metric", opts.progress) as bar:
        return paired_test(ev.hyps, baseline, ev.test.streams, metrics, opts.bootstrap, bar.update)
