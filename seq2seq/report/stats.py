"""The report's statistics: per-sentence sufficient statistics (the one wrapper over sacreBLEU's internals),
bootstrap confidence intervals, paired significance (sacreBLEU's PairedTest), and scores by length bucket."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from seq2seq.metrics import Score, caption_bleu, cider_d, cider_d_items, corpus_scores

N_BOOTSTRAP = 1000
SEED = 12345  # sacreBLEU's default bootstrap seed, used for our confidence intervals as well


class SentenceStats:
    """Per-sentence sufficient statistics of one sacreBLEU metric, and scores from any sum of them.

    sacreBLEU has no public API for this: its own bootstrap and paired tests use the metric's
    `_extract_corpus_statistics` and `_compute_score_from_stats`, and so does this class, the only place in
    the package that calls them. tests/report/test_report_stats.py pins `score()` to the public `corpus_score` on the
    same (and on resampled) data for every metric the report uses.
    """

    def __init__(self, metric, hyps: list[str], streams: list[list[str]]):
        self.metric = metric
        self.rows = np.array(metric._extract_corpus_statistics(hyps, streams), dtype=np.float64)  # (n, d)

    def __len__(self) -> int:
        return len(self.rows)

    def score(self, summed: np.ndarray) -> float:
        """The metric's corpus score from summed statistics (d,), e.g. those of a subset or a resample."""
        return float(self.metric._compute_score_from_stats(summed).score)

    def corpus(self) -> float:
        return self.score(self.rows.sum(0))

    def sentences(self) -> np.ndarray:
        """(n,) each sentence scored alone (sentence chrF for the examples)."""
        return np.array([self.score(r) for r in self.rows])


def bootstrap_counts(n: int, n_boot: int, seed: int):
    """Yield (chunk of resamples, n) count matrices: counts[b, i] = how often sentence i is in resample b."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 2_000_000 // max(n, 1)))
    done = 0
    while done < n_boot:
        k = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(k, n))  # (k, n) sentence indices
        yield np.bincount((idx + np.arange(k)[:, None] * n).ravel(), minlength=k * n).reshape(k, n)
        done += k


def bootstrap_metric(stats: SentenceStats, n_boot: int = N_BOOTSTRAP, seed: int = SEED) -> np.ndarray:
    """Corpus scores of `n_boot` resamples of the sentences, recomputed from per-sentence sufficient statistics
    as sacreBLEU does; summing through a count matrix avoids building (n_boot, n, d)."""
    out = []
    for counts in bootstrap_counts(len(stats), n_boot, seed):
        out += [stats.score(s) for s in counts @ stats.rows]  # (k, d) summed statistics
    return np.array(out)


def bootstrap_mean(values: np.ndarray, n_boot: int = N_BOOTSTRAP, seed: int = SEED) -> np.ndarray:
    """Means of `n_boot` resamples of per-item values (CIDEr-D is a mean of item scores)."""
    return np.concatenate([counts @ values / len(values) for counts in bootstrap_counts(len(values), n_boot, seed)])


def ci95(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


# -- corpus scores with intervals ------------------------------------------------------------------------------
@dataclass
class Scores:
    """A system's scores: (key, Score, 95% CI) rows, sentence chrF, and the BLEU statistics for length buckets."""

    rows: list = field(default_factory=list)  # (key, seq2seq.metrics.Score, (lo, hi))
    chrf: np.ndarray | None = None  # (n,) sentence chrF
    bleu: SentenceStats | None = None


def translation_metrics(lowercase: bool, tokenize: str = "13a") -> dict:
    """BLEU, chrF and TER as `seq2seq evaluate` configures them (`tokenize`: 13a, or zh for Chinese output)."""
    from sacrebleu.metrics import BLEU, CHRF, TER  # lazy: keeps start-up fast

    return {"bleu": BLEU(lowercase=lowercase, tokenize=tokenize), "chrf": CHRF(lowercase=lowercase),
            "ter": TER(case_sensitive=not lowercase, asian_support=tokenize == "zh")}


def score_translation(hyps: list[str], streams: list[list[str]], lowercase: bool, n_boot: int,
                      advance: Callable[[], None] = lambda: None, tokenize: str = "13a") -> Scores:
    """BLEU, chrF and TER exactly as `seq2seq evaluate` gives them, each with a bootstrap interval."""
    scores = corpus_scores(hyps, streams, lowercase=lowercase, tokenize=tokenize)
    out = Scores()
    for key, metric in translation_metrics(lowercase, tokenize).items():
        stats = SentenceStats(metric, hyps, streams)
        out.rows.append((key, scores[key], ci95(bootstrap_metric(stats, n_boot))))
        if key == "bleu":
            out.bleu = stats
        elif key == "chrf":
            out.chrf = stats.sentences()
        advance()
    return out


def score_captions(hyps: list[str], streams: list[list[str]], refs: list[list[str]], n_boot: int,
                   advance: Callable[[], None] = lambda: None) -> Scores:
    """BLEU-1..4 (lowercased, every reference) and CIDEr-D, each with a bootstrap interval; sentence chrF."""
    from sacrebleu.metrics import BLEU, CHRF  # lazy: keeps start-up fast


    bleus = caption_bleu(hyps, streams)
    out = Scores()
    for n in range(1, 5):
        stats = SentenceStats(BLEU(max_ngram_order=n, lowercase=True), hyps, streams)
        out.rows.append((f"bleu{n}", bleus[f"bleu{n}"], ci95(bootstrap_metric(stats, n_boot))))
        out.bleu = stats
        advance()
    items = np.array(cider_d_items(hyps, refs))
    total = cider_d(hyps, refs)
    sig = f"CIDEr-D|n:4|sigma:6|nrefs:{max(len(r) for r in refs)}|tok:whitespace|case:lc|df:refs"
    out.rows.append(("cider", Score("CIDEr-D", round(total, 3), sig, f"CIDEr-D = {total:.3f}"),
                     ci95(bootstrap_mean(items, n_boot))))
    out.chrf = SentenceStats(CHRF(lowercase=True), hyps, streams).sentences()
    advance()
    return out


# -- paired significance --------------------------------------------------------------------------------------
def paired_test(hyps: list[str], baseline: list[str], streams: list[list[str]], metrics: dict, n_boot: int,
                advance: Callable[[], None] = lambda: None) -> list[dict]:
    """sacreBLEU's paired bootstrap resampling (PairedTest, test_type='bs') of `hyps` against `baseline`, one
    metric at a time (sacreBLEU draws the same resamples for each metric, so this equals one call with all)."""
    from sacrebleu.significance import PairedTest  # lazy: keeps start-up fast

    logging.getLogger("sacrebleu").setLevel(logging.WARNING)
    same = list(baseline) == list(hyps)
    rows = []
    for metric in metrics.values():
        sigs, res = PairedTest([("baseline", baseline), ("system", hyps)], {"m": metric}, streams,
                               test_type="bs", n_samples=n_boot)()
        name = next(k for k in res if k != "System")
        base, sys_ = res[name]
        rows.append({"metric": name, "baseline": float(base.score), "system": float(sys_.score),
                     "delta": float(sys_.score - base.score), "p": 1.0 if same else float(sys_.p_value),
                     "signature": str(sigs[name])})
        advance()
    return rows


# -- length buckets -------------------------------------------------------------------------------------------
def length_buckets(lengths: list[int], target: int = 6) -> list[tuple[int, int]]:
    """Contiguous [lo, hi] length ranges of a 'nice' width (1, 2, 5, 10, 20, ...) giving about `target` buckets."""
    if not lengths:
        return []
    lo, hi = min(lengths), max(lengths)
    span = hi - lo + 1
    width = 1
    for w in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        width = w
        if span / w <= target:
            break
    start = (lo // width) * width if width > 1 else lo
    out = []
    while start <= hi:
        b = (max(start, 0), start + width - 1)
        if any(b[0] <= x <= b[1] for x in lengths):
            out.append(b)
        start += width
    return out


@dataclass
class Bucket:
    lo: int
    hi: int
    n: int
    bleu: float
    ratio: float  # hypothesis / reference length (BLEU's sys_len / ref_len)

    @property
    def label(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"


def bucket_scores(stats: SentenceStats, lengths: list[int]) -> list[Bucket]:
    """Corpus BLEU of each length bucket, from the sentences' BLEU statistics (columns 0:2 = sys/ref length)."""
    lengths_np = np.array(lengths)
    out = []
    for lo, hi in length_buckets(lengths):
        sel = (lengths_np >= lo) & (lengths_np <= hi)
        s = stats.rows[sel].sum(0)
        out.append(Bucket(lo, hi, int(sel.sum()), stats.score(s), float(s[0] / s[1]) if s[1] else float("nan")))
    return out
