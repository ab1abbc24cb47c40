"""What monolingual data buys the Multi30k translators: ONE table, both directions, on val, test_2016_flickr and
test_2017_flickr (sacreBLEU BLEU, cased and lowercased, as bench/multi30k_eval.py scores the shipped models), with
beam-5 sentences/s beside each row. Rows per direction:

  baseline          the shipped model (or --baseline DIR)
  + back-translation  a model trained with back-translated data (--bt DIR; its direction read from its config)
  + LM fusion       the baseline with --lm DIR (the LM of the target language), its weight chosen on val (--weights)
  + ensemble of N   the baseline, the back-translation model and the --ensemble DIRs of that direction,
                    log-probabilities averaged (a fine-tuned BT model is a cheap second member)
  all together      that ensemble, fused with the LM

A row whose models are not given is left out; each row decodes exactly the models it lists (a config's own
search.ensemble is not added: the shipped en->de default is the "+ ensemble" row). Every model's direction and every LM's language come from their
config.yaml, so the flags take models of both directions in any order.

    nice python bench/monolingual.py                                   # baseline rows, all three sets
    nice python bench/monolingual.py --splits val --limit 100          # a quick check (first 100 sentences)
    nice python bench/monolingual.py --bt runs/en-de-bt runs/de-en-bt --lm runs/lm-de runs/lm-en-m30k \\
        --ensemble runs/en-de-seed2 runs/de-en-seed2 --weights 0.1 0.2 0.3
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("val", "test_2016_flickr", "test_2017_flickr")
DIRECTIONS = (("en", "de"), ("de", "en"))


@dataclass
class Direction:
    """The models given for one translation direction."""

    src: str
    tgt: str
    baseline: Path
    bt: Path | None = None
    lm: Path | None = None
    extra: list[Path] = field(default_factory=list)  # more ensemble members

    def rows(self) -> list[tuple[str, list[Path], Path | None]]:
        """(label, ensemble members, fusion LM) for every row this direction's models allow."""
        rows = [("baseline", [self.baseline], None)]
        if self.bt:
            rows.append(("+ back-translation", [self.bt], None))
        if self.lm:
            rows.append(("+ LM fusion", [self.baseline], self.lm))
        members = [self.baseline, *([self.bt] if self.bt else []), *self.extra]  # the BT model joins the ensemble
        if len(members) > 1:
            rows.append((f"+ ensemble of {len(members)}", members, None))
        if len(members) > 1 and self.lm:
            rows.append(("all together", members, self.lm))
        return rows


def _config(model_dir: Path):
    from seq2seq.config import load_config

    return load_config(Path(model_dir) / "config.yaml")


def directions(args) -> list[Direction]:
    """Each direction's models, sorted from the flags by what their configs say they translate."""
    from seq2seq.errors import UserError
    from seq2seq.hub import resolve

    pair = lambda d: (_config(d).data.src_lang, _config(d).data.tgt_lang)  # noqa: E731
    baselines = {pair(p): p for p in map(resolve, args.baseline)}
    out = []
    for src, tgt in DIRECTIONS:
        base = baselines.get((src, tgt)) or (None if args.baseline else resolve(None, src, tgt))
        if base is None:
            continue
        d = Direction(src, tgt, base)
        for p in map(Path, args.bt):
            d.bt = p if pair(p) == (src, tgt) else d.bt
        for p in map(Path, args.lm):
            cfg = _config(p)
            if cfg.task != "lm":
                raise UserError(f"--lm {p} is not a language model")
            d.lm = p if cfg.data.tgt_lang == tgt else d.lm
        d.extra = [Path(p) for p in args.ensemble if pair(p) == (src, tgt)]
        out.append(d)
    if not out:
        raise UserError("no baseline for en->de or de->en: give --baseline DIR (a Multi30k translator)")
    return out


@dataclass
class Result:
    label: str
    scores: dict  # split -> (BLEU, BLEU lowercased)
    sps: float  # sentences per second over every set decoded
    weight: float | None = None  # the fusion weight chosen on val
    signatures: tuple[str, str] = ("", "")


def _bleu(hyps: list[str], refs: list[str]) -> tuple[float, float, str, str]:
    from seq2seq.metrics import corpus_scores

    cased = corpus_scores(hyps, refs, metrics=("bleu",))["bleu"]
    lc = corpus_scores(hyps, refs, lowercase=True, metrics=("bleu",))["bleu"]
    return cased.score, lc.score, cased.signature, lc.signature


def run_row(label: str, members: list[Path], lm: Path | None, data: dict, args) -> Result:
    """Decode every set with these members (and LM: its weight the best of args.weights on val, cased BLEU)."""
    from seq2seq.translate import Translator

    tr = Translator.load(members, args.device, ensemble=False, beam=args.beam, alpha=args.alpha)  # exactly these
    weight = None
    if lm is not None:
        src, ref = data["val"]
        tune = {w: _bleu(tr.translate(src, lm=str(lm), lm_weight=w), ref)[0] for w in args.weights}
        weight = max(tune, key=lambda w: (tune[w], -w))
    fusion = {"lm": str(lm), "lm_weight": weight} if lm is not None else {}
    scores, n, seconds, sigs = {}, 0, 0.0, ("", "")
    for split in args.splits:
        src, ref = data[split]
        tic = time.perf_counter()
        hyps = tr.translate(src, **fusion)
        seconds += time.perf_counter() - tic
        n += len(src)
        cased, lc, *sigs = _bleu(hyps, ref)
        scores[split] = (cased, lc)
    return Result(label, scores, n / seconds if seconds else float("nan"), weight, tuple(sigs))


def table(results: dict[str, list[Result]], splits: list[str]) -> str:
    """The Markdown table: a row per direction and system, BLEU / lowercased BLEU per set, sentences/s."""
    head = "| direction | system | " + " | ".join(f"{s} BLEU | {s} lc" for s in splits) + " | sent/s (beam 5) |"
    lines = [head, "|" + "---|" * (3 + 2 * len(splits))]
    for direction, rows in results.items():
        for r in rows:
            label = r.label + (f" (weight {r.weight:g})" if r.weight is not None else "")
            cells = " | ".join(f"{r.scores[s][0]:.2f} | {r.scores[s][1]:.2f}" for s in splits)
            lines.append(f"| {direction} | {label} | {cells} | {r.sps:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    import torch

    from seq2seq.data.corpus import multi30k

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", nargs="+", default=[], metavar="DIR",
                    help="baseline models (default: the shipped multi30k-en-de and multi30k-de-en)")
    ap.add_argument("--bt", nargs="+", default=[], metavar="DIR", help="models trained with back-translation")
    ap.add_argument("--lm", nargs="+", default=[], metavar="DIR", help="language models (one per target language)")
    ap.add_argument("--ensemble", nargs="+", default=[], metavar="DIR", help="more members for the ensemble rows")
    ap.add_argument("--weights", nargs="+", type=float, default=[0.1, 0.2, 0.3], help="fusion weights tried on val")
    ap.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    ap.add_argument("--limit", type=int, default=0, metavar="N", help="only the first N sentences of each set")
    ap.add_argument("--root", help="Multi30k folder (default: ../shared/data/multi30k)")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--alpha", type=float, help="length penalty (default: each model's config)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    results, sigs = {}, ("", "")
    for d in directions(args):
        needed = set(args.splits) | ({"val"} if d.lm else set())
        data = {s: [x[: args.limit] if args.limit else x for x in multi30k(s, d.src, d.tgt, args.root)]
                for s in needed}
        rows = []
        for label, members, lm in d.rows():
            rows.append(run_row(label, members, lm, data, args))
            sigs = rows[-1].signatures
        results[f"{d.src}->{d.tgt}"] = rows
    n = f"first {args.limit} sentences of each set" if args.limit else "whole sets"
    out = (f"{table(results, args.splits)}\n\nbeam {args.beam}, {n}, {args.threads} CPU thread(s); fusion weights "
           f"chosen on val (cased BLEU) from {' '.join(f'{w:g}' for w in args.weights)}\n- BLEU: `{sigs[0]}`\n"
           f"- lc: `{sigs[1]}`")
    print(out)
    return out


if __name__ == "__main__":
    main()
