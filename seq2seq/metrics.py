"""Corpus metrics through sacreBLEU, on detokenized text only; every score carries sacreBLEU's signature."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Score:
    name: str
    score: float
    signature: str
    detail: str = ""  # sacreBLEU's full line, e.g. "BLEU = 37.1 68.9/44.0/... (BP = ...)"


def _refs_streams(refs: list[list[str]] | list[str], n: int) -> list[list[str]]:
    """Accept one reference list or several reference streams; check each has one line per hypothesis."""
    streams = [refs] if refs and isinstance(refs[0], str) else refs
    for s in streams:
        if len(s) != n:
            raise ValueError(f"reference has {len(s)} lines but there are {n} hypotheses")
    return streams


def corpus_scores(hyps: list[str], refs: list[list[str]] | list[str], lowercase: bool = False,
                  metrics: tuple[str, ...] = ("bleu", "chrf", "ter")) -> dict[str, Score]:
    """BLEU (13a tokenization), chrF and TER against one or more reference streams."""
    from sacrebleu.metrics import BLEU, CHRF, TER

    streams = _refs_streams(refs, len(hyps))
    makers = {"bleu": lambda: BLEU(lowercase=lowercase), "chrf": lambda: CHRF(lowercase=lowercase),
              "ter": lambda: TER(case_sensitive=not lowercase)}
    out = {}
    for name in metrics:
        metric = makers[name]()
        res = metric.corpus_score(hyps, streams)
        out[name] = Score(res.name, round(res.score, 2), str(metric.get_signature()), str(res))
    return out


def bleu(hyps: list[str], refs: list[list[str]] | list[str], lowercase: bool = False) -> float:
    return corpus_scores(hyps, refs, lowercase, ("bleu",))["bleu"].score


def as_json(scores: dict[str, Score]) -> dict:
    return {k: asdict(v) for k, v in scores.items()}
