"""Corpus metrics through sacreBLEU, on detokenized text only; every score carries sacreBLEU's signature."""

from __future__ import annotations

import math
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


BLEU_TOKENIZERS = {"zh": "zh"}  # sacreBLEU's tokenizer for output in a language written without spaces


def bleu_tokenize(lang: str | None) -> str:
    """The sacreBLEU tokenizer for output in `lang`: `zh` for Chinese, else the standard `13a`."""
    return BLEU_TOKENIZERS.get(lang or "", "13a")


def corpus_scores(hyps: list[str], refs: list[list[str]] | list[str], lowercase: bool = False,
                  metrics: tuple[str, ...] = ("bleu", "chrf", "ter"), tokenize: str = "13a") -> dict[str, Score]:
    """BLEU (`tokenize`: 13a, or zh for Chinese output), chrF and TER (tercom tokenization; with `asian_support`
    for zh) against one or more reference streams."""
    from sacrebleu.metrics import BLEU, CHRF, TER  # lazy: keeps start-up fast

    streams = _refs_streams(refs, len(hyps))
    makers = {"bleu": lambda: BLEU(lowercase=lowercase, tokenize=tokenize), "chrf": lambda: CHRF(lowercase=lowercase),
              "ter": lambda: TER(case_sensitive=not lowercase, asian_support=tokenize == "zh")}
    out = {}
    for name in metrics:
        metric = makers[name]()
        res = metric.corpus_score(hyps, streams)
        out[name] = Score(res.name, round(res.score, 2), str(metric.get_signature()), str(res))
    return out


def bleu(hyps: list[str], refs: list[list[str]] | list[str], lowercase: bool = False, tokenize: str = "13a") -> float:
    return corpus_scores(hyps, refs, lowercase, ("bleu",), tokenize)["bleu"].score


def exact_match(hyps: list[str], refs: list[list[str]] | list[str]) -> float:
    """Sentence accuracy in percent: a hypothesis counts when it equals one of its references (detokenized text,
    runs of whitespace compared as one space)."""
    streams = _refs_streams(refs, len(hyps))
    hits = sum(any(" ".join(h.split()) == " ".join(s[i].split()) for s in streams) for i, h in enumerate(hyps))
    return round(100.0 * hits / max(len(hyps), 1), 2)


BLEU_ORDER = 4  # BLEU's longest n-gram: a sentence shorter than this has no 4-gram to match


def short_for_bleu(texts: list[str], tokenize: str = "13a") -> float:
    """The share of `texts` shorter than 4 tokens as BLEU counts them (with `tokenize`): when most are, corpus
    BLEU is 0 or close to it whatever the system outputs, so it cannot rank checkpoints."""
    from sacrebleu.metrics import BLEU  # lazy: keeps start-up fast

    tok = BLEU(tokenize=tokenize).tokenizer
    return sum(len(tok(t).split()) < BLEU_ORDER for t in texts) / max(len(texts), 1)


def as_json(scores: dict[str, Score]) -> dict:
    return {k: asdict(v) for k, v in scores.items()}


def caption_bleu(hyps: list[str], refs: list[list[str]]) -> dict[str, Score]:
    """BLEU-1..4 against every reference stream (sacreBLEU, 13a tokenization, lowercased)."""
    from sacrebleu.metrics import BLEU  # lazy: keeps start-up fast

    streams = _refs_streams(refs, len(hyps))
    out = {}
    for n in range(1, 5):
        metric = BLEU(max_ngram_order=n, lowercase=True)
        res = metric.corpus_score(hyps, streams)
        out[f"bleu{n}"] = Score(f"BLEU-{n}", round(res.score, 2), str(metric.get_signature()), str(res))
    return out


def _ngrams(words: list[str], n: int) -> dict[tuple, int]:
    counts: dict[tuple, int] = {}
    for i in range(len(words) - n + 1):
        g = tuple(words[i : i + n])
        counts[g] = counts.get(g, 0) + 1
    return counts


class CiderD:
    """CIDEr-D (Vedantam et al. 2015, as in coco-caption) with document frequencies taken once from a corpus of
    reference sets (one set per image): the evaluated set's own references (`cider_d_items`), or the training
    set's for SCST's reward, as the original SCST code does. Input is split on whitespace as given (lowercase
    it first). Each reference set's tf-idf vectors are computed once, on first use, and kept."""

    N = 4

    def __init__(self, corpus_refs: list[list[str]], sigma: float = 6.0):
        self.sigma, self.df, self._refs = sigma, {}, {}
        for refs in corpus_refs:
            for g in set(g for r in refs for n in range(1, self.N + 1) for g in _ngrams(r.split(), n)):
                self.df[g] = self.df.get(g, 0) + 1
        self.log_n = math.log(max(1.0, float(len(corpus_refs))))

    def _vec(self, text: str):
        """Per n: the tf-idf vector of `text`'s n-grams and its norm; and its length in words."""
        words = text.split()
        vs, norms = [], []
        for n in range(1, self.N + 1):
            v = {g: c * (self.log_n - math.log(max(1.0, self.df.get(g, 0.0)))) for g, c in _ngrams(words, n).items()}
            vs.append(v)
            norms.append(math.sqrt(sum(x * x for x in v.values())))
        return vs, norms, len(words)

    def _ref_vecs(self, refs: list[str]):
        key = tuple(refs)
        if key not in self._refs:
            self._refs[key] = [self._vec(r) for r in refs]
        return self._refs[key]

    def score(self, hyp: str, refs: list[str]) -> float:
        """One hypothesis against its references: n-gram cosines (clipped hypothesis counts) with a Gaussian length
        penalty, averaged over n = 1..4 and over the references, x10."""
        hv, hn, h_len = self._vec(hyp)
        score = 0.0
        for rv, rn, r_len in self._ref_vecs(refs):
            for n in range(self.N):
                val = sum(min(x, rv[n][g]) * rv[n][g] for g, x in hv[n].items() if g in rv[n])
                if hn[n] and rn[n]:
                    val /= hn[n] * rn[n]
                score += val * math.exp(-((h_len - r_len) ** 2) / (2 * self.sigma**2))
        return score / self.N / len(refs) * 10.0

    def scores(self, hyps: list[str], refs_per_item: list[list[str]]) -> list[float]:
        if len(hyps) != len(refs_per_item):
            raise ValueError(f"{len(hyps)} hypotheses but {len(refs_per_item)} reference sets")
        return [self.score(h, refs) for h, refs in zip(hyps, refs_per_item)]


def cider_d_items(hyps: list[str], refs_per_item: list[list[str]], sigma: float = 6.0) -> list[float]:
    """Per-item CIDEr-D (see `CiderD`), document frequencies from these references."""
    if len(hyps) != len(refs_per_item):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs_per_item)} reference sets")
    return CiderD(refs_per_item, sigma).scores(hyps, refs_per_item)


def cider_d(hyps: list[str], refs_per_item: list[list[str]], sigma: float = 6.0) -> float:
    """Corpus CIDEr-D: the mean of `cider_d_items`."""
    items = cider_d_items(hyps, refs_per_item, sigma)
    return sum(items) / max(len(items), 1)


def speech_text(text: str) -> str:
    """How transcripts are compared: uppercase words, runs of whitespace as one space (AN4's convention)."""
    return " ".join(text.upper().split())


def error_rates(hyps: list[str], refs: list[str]) -> dict[str, Score]:
    """Word and character error rates in percent over the corpus (jiwer: edits / reference length) on
    `speech_text`; the CER leaves spaces out (as deepspeech.pytorch's does), so it counts letters only. Every
    reference must hold a word."""
    from importlib.metadata import version  # lazy: keeps start-up fast

    import jiwer  # lazy: keeps start-up fast

    if len(hyps) != len(refs):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    h, r = [speech_text(x) for x in hyps], [speech_text(x) for x in refs]
    if not all(r):
        raise ValueError(f"reference {r.index('') + 1} is empty: an error rate needs reference words")
    words = jiwer.process_words(r, h)
    letters = jiwer.process_characters([x.replace(" ", "") for x in r], [x.replace(" ", "") for x in h])
    n_words, n_letters = sum(len(x.split()) for x in r), sum(len(x.replace(" ", "")) for x in r)
    sig = f"jiwer:{version('jiwer')}|case:upper|cer:no-spaces"
    rate = lambda m, n: 100.0 * (m.substitutions + m.deletions + m.insertions) / n  # noqa: E731
    wer, cer = rate(words, n_words), rate(letters, n_letters)
    return {"wer": Score("WER", round(wer, 2), sig, f"WER = {wer:.2f} ({n_words} words)"),
            "cer": Score("CER", round(cer, 2), sig, f"CER = {cer:.2f} ({n_letters} letters)")}


def word_alignment(hyp: str, ref: str) -> list[tuple[str, str, str]]:
    """(kind, reference words, hypothesis words) chunks of the minimum-edit alignment: kind is equal, substitute,
    delete or insert; what a report shows for one utterance's errors."""
    import jiwer  # lazy: keeps start-up fast

    h, r = speech_text(hyp), speech_text(ref)
    if not r:
        return [("insert", "", h)] if h else []
    out = jiwer.process_words(r, h)
    rw, hw = r.split(), h.split()
    return [(c.type, " ".join(rw[c.ref_start_idx:c.ref_end_idx]), " ".join(hw[c.hyp_start_idx:c.hyp_end_idx]))
            for c in out.alignments[0]]
