"""The report's statistics: the one wrapper over sacreBLEU's sufficient statistics pinned to sacreBLEU's public
corpus_score / sentence_score on the same and on resampled data, the bootstrap's count matrices, paired tests one
metric at a time equal to sacreBLEU's all-at-once PairedTest, and length buckets."""

from __future__ import annotations

import numpy as np
import pytest
from sacrebleu.metrics import BLEU, CHRF, TER

from conftest import reverse_pairs
from seq2seq.report.stats import (SentenceStats, bootstrap_counts, bootstrap_mean, bootstrap_metric, bucket_scores,
                                  ci95, length_buckets, paired_test, translation_metrics)


def _data(n: int = 40, seed: int = 3):
    """References, a second reference stream, and hypotheses that drop or change a word (so scores are not 0
    or 100)."""
    _, ref = reverse_pairs(n, seed=seed)
    ref2 = [" ".join(reversed(r.split())) for r in ref]
    hyps = [" ".join(r.split()[: max(1, len(r.split()) - 1)]) + (" 7" if i % 3 == 0 else "") for i, r in
            enumerate(ref)]
    hyps[1] = hyps[1].upper() + " X"  # case matters for the case-sensitive metrics
    return hyps, ref, ref2


METRICS = [lambda: BLEU(), lambda: BLEU(lowercase=True), lambda: CHRF(), lambda: CHRF(lowercase=True),
           lambda: TER(), lambda: TER(case_sensitive=False)] + [
    (lambda n=n: BLEU(max_ngram_order=n, lowercase=True)) for n in range(1, 5)]


@pytest.mark.parametrize("make", METRICS)
@pytest.mark.parametrize("two_refs", [False, True])
def test_sentence_stats_score_equals_public_corpus_score(make, two_refs):
    hyps, ref, ref2 = _data()
    streams = [ref, ref2] if two_refs else [ref]
    stats = SentenceStats(make(), hyps, streams)
    assert stats.rows.shape[0] == len(hyps)
    assert stats.corpus() == pytest.approx(make().corpus_score(hyps, streams).score, abs=1e-9)
    # any resample: the score of summed rows is the corpus score of the resampled sentences
    idx = np.random.default_rng(0).integers(0, len(hyps), size=len(hyps))
    want = make().corpus_score([hyps[i] for i in idx], [[s[i] for i in idx] for s in streams]).score
    assert stats.score(stats.rows[idx].sum(0)) == pytest.approx(want, abs=1e-9)


def test_sentence_chrf_equals_public_sentence_score():
    hyps, ref, ref2 = _data(12)
    got = SentenceStats(CHRF(), hyps, [ref, ref2]).sentences()
    want = [CHRF().sentence_score(h, [a, b]).score for h, a, b in zip(hyps, ref, ref2)]
    assert got == pytest.approx(want, abs=1e-9)


def test_bootstrap_equals_explicit_resampling_scored_by_sacrebleu():
    hyps, ref, _ = _data()
    stats = SentenceStats(BLEU(), hyps, [ref])
    fast = bootstrap_metric(stats, n_boot=30, seed=7)
    idx = np.random.default_rng(7).integers(0, len(hyps), size=(30, len(hyps)))  # what the count matrix encodes
    slow = [BLEU().corpus_score([hyps[i] for i in row], [[ref[i] for i in row]]).score for row in idx]
    assert fast == pytest.approx(slow, abs=1e-9)


def test_bootstrap_counts_in_chunks_are_resamples():
    chunks = list(bootstrap_counts(n=1_000_000, n_boot=5, seed=1))  # 2 per chunk at this size
    assert [len(c) for c in chunks] == [2, 2, 1]
    assert all((c.sum(1) == 1_000_000).all() and (c >= 0).all() for c in chunks)
    again = np.concatenate(list(bootstrap_counts(n=1_000_000, n_boot=5, seed=1)))
    assert (np.concatenate(chunks) == again).all()  # seeded: the same resamples each time


def test_bootstrap_mean_and_ci():
    values = np.array([0.0, 1.0, 2.0, 3.0])
    means = bootstrap_mean(values, n_boot=200, seed=3)
    counts = np.concatenate(list(bootstrap_counts(4, 200, 3)))
    assert means == pytest.approx(counts @ values / 4)
    lo, hi = ci95(means)
    assert 0.0 <= lo <= 1.5 <= hi <= 3.0
    assert ci95(np.arange(1, 201)) == pytest.approx((5.975, 195.025))  # numpy's linear percentiles, by hand


def test_paired_test_per_metric_equals_sacrebleu_all_at_once():
    from sacrebleu.significance import PairedTest

    hyps, ref, _ = _data(30)
    base = [" ".join(r.split()[:-1]) or "0" for r in ref]
    rows = paired_test(hyps, base, [ref], translation_metrics(False), n_boot=50)
    sigs, res = PairedTest([("b", base), ("s", hyps)], translation_metrics(False), [ref], test_type="bs",
                           n_samples=50)()
    assert [r["metric"] for r in rows] == ["BLEU", "chrF2", "TER"]
    for r in rows:
        b, s = res[r["metric"]]
        assert (r["baseline"], r["system"], r["p"]) == (b.score, s.score, s.p_value)
        assert r["delta"] == pytest.approx(s.score - b.score) and r["signature"] == str(sigs[r["metric"]])
    same = paired_test(hyps, list(hyps), [ref], {"bleu": BLEU()}, n_boot=20)
    assert same[0]["p"] == 1.0 and same[0]["delta"] == 0.0


def test_cider_items_average_to_cider_d():
    from seq2seq.metrics import cider_d, cider_d_items

    hyps = ["a red circle", "a blue square on white", "there is a red square"]
    refs = [["a red circle on a white background", "there is a red circle"], ["a blue square"],
            ["there is a red square", "a red square"]]
    assert np.mean(cider_d_items(hyps, refs)) == pytest.approx(cider_d(hyps, refs))  # so a bootstrap mean fits


def test_length_buckets_cover_and_bucket_scores_add_up():
    for lengths in ([1, 2, 3], [3, 17, 40, 41, 90], [7] * 5, list(range(1, 200, 7))):
        buckets = length_buckets(lengths)
        assert all(any(lo <= x <= hi for lo, hi in buckets) for x in lengths)
        assert all(a[1] < b[0] for a, b in zip(buckets, buckets[1:])) and len(buckets) <= 7
    assert length_buckets([3, 17, 40, 41, 90]) == [(0, 19), (40, 59), (80, 99)]  # width 20: 88 / 20 <= 6
    hyps, ref, _ = _data()
    lengths = [len(r.split()) for r in ref]
    stats = SentenceStats(BLEU(), hyps, [ref])
    buckets = bucket_scores(stats, lengths)
    assert sum(b.n for b in buckets) == len(hyps)
    for b in buckets:  # each bucket's BLEU is sacreBLEU's on that bucket's sentences
        sel = [i for i, n in enumerate(lengths) if b.lo <= n <= b.hi]
        assert b.bleu == pytest.approx(BLEU().corpus_score([hyps[i] for i in sel], [[ref[i] for i in sel]]).score)
