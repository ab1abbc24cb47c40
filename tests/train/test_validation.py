"""Validation metric: auto picks BLEU or exact match by the references' length, warns once when asked-for BLEU is
degenerate, ranks validations (ties by loss; loss lower is better); exact match and the short share by hand."""

from __future__ import annotations

import math

import pytest

from seq2seq.config import TrainConfig
from seq2seq.metrics import exact_match, short_for_bleu
from seq2seq.train.schedule import LossWatch, LRSchedule
from seq2seq.train.validation import ValidMetric

LONG = ["a man rides a red bike", "two dogs play in the snow", "the cat sleeps on a warm mat"]
SHORT = ["54416", "7", "12 13", "a man rides a bike"]  # 3 of 4 shorter than 4 tokens


def test_exact_match_by_hand():
    assert exact_match(["a b", "c", "d"], ["a b", "x", "d"]) == pytest.approx(200 / 3, abs=0.01)
    assert exact_match(["a  b ", "c"], [["a b", "q"], ["z", "c"]]) == 100.0  # whitespace runs; any reference
    assert exact_match([], []) == 0.0


def test_short_share_counts_bleu_tokens():
    assert short_for_bleu(SHORT) == 0.75
    assert short_for_bleu(["a b c.", "x"]) == 0.5  # "a b c ." is 4 tokens for 13a
    assert short_for_bleu(LONG) == 0.0


def test_auto_is_bleu_on_ordinary_references():
    said = []
    m = ValidMetric("auto", [LONG], said.append)
    assert m.name == "bleu" and "auto" in said[0]
    bleu, score = m.scores(LONG, [LONG], loss=1.0)
    assert bleu == score == 100.0


def test_auto_is_exact_on_short_references_and_says_why():
    said = []
    m = ValidMetric("auto", [SHORT], said.append)
    assert m.name == "exact"
    assert len(said) == 1 and "exact" in said[0] and "75%" in said[0] and "shorter than 4" in said[0]
    bleu, score = m.scores(["54416", "7", "0", "x"], [SHORT], loss=1.0)
    assert bleu == 0.0 and score == 50.0


def test_explicit_bleu_on_short_references_warns_once_naming_exact():
    said = []
    m = ValidMetric("bleu", [SHORT], said.append)
    m.scores(SHORT, [SHORT], 1.0)
    m.scores(["1", "2", "3", "4"], [SHORT], 1.0)
    warnings = [s for s in said if s.startswith("warning:")]
    assert len(warnings) == 1 and "valid_metric=exact" in warnings[0]
    assert m.name == "bleu"


def test_explicit_bleu_warns_on_short_hypotheses():
    said = []
    m = ValidMetric("bleu", [LONG], said.append)
    assert said == []
    m.scores(["a", "b", "c"], [LONG], 1.0)
    m.scores(["a", "b", "c"], [LONG], 1.0)
    assert len(said) == 1 and "hypotheses" in said[0] and "exact" in said[0]


@pytest.mark.parametrize("name", ["chrf", "exact", "loss"])
def test_other_metrics_never_warn(name):
    said = []
    m = ValidMetric(name, [SHORT], said.append)
    m.scores(["1", "2", "3", "4"], [SHORT], 1.0)
    assert said == []


def test_rank_ties_broken_by_loss_and_loss_lower_is_better():
    m = ValidMetric("exact", [SHORT], lambda s: None)
    assert m.rank(50.0, 1.2) > m.rank(40.0, 0.1)  # the score first
    assert m.rank(50.0, 1.0) > m.rank(50.0, 1.2)  # then the lower loss
    assert not m.rank(50.0, 1.00001) > m.rank(50.0, 1.00002)  # below the log's 4 decimals: a tie, no change
    loss = ValidMetric("loss", [SHORT], lambda s: None)
    assert loss.scores(["x"] * 4, [SHORT], 0.123456) == (0.0, 0.1235)
    assert loss.rank(0.5, 0.5) > loss.rank(0.6, 0.6)


def test_chrf_score_is_sacrebleu_chrf():
    m = ValidMetric("chrf", [LONG], lambda s: None)
    _, score = m.scores(LONG, [LONG], 1.0)
    assert score == 100.0


def test_plateau_schedule_follows_ranks_and_reads_old_states():
    s = LRSchedule(TrainConfig(lr=1.0, schedule="plateau", decay_factor=0.5, decay_patience=0, min_lr=0.01))
    s.on_validation((10.0, -2.0))
    s.on_validation((10.0, -2.5))  # same score, higher loss: no improvement -> decay
    assert s.lr(10) == 0.5
    s.on_validation((10.0, -1.0))  # same score, lower loss: an improvement
    assert s.lr(10) == 0.5 and s.bad == 0
    old = LRSchedule(TrainConfig())
    old.load_state_dict({"scale": 1.0, "best": 31.5, "bad": 1})  # a last.pt from before ranks
    assert old.best == (31.5, -math.inf)
    old.load_state_dict({"scale": 1.0, "best": -math.inf, "bad": 0})
    assert old.best is None


def test_loss_watch_by_hand():
    w = LossWatch(vocab_size=100)  # chance = ln 100 = 4.605
    assert "non-finite" in w.problem(float("nan")) and w.problem(float("inf"))
    assert w.problem(47.0) and w.problem(46.0) is None  # 10 x chance = 46.05, with no history
    for _ in range(LossWatch.MIN_STEPS - 1):
        w.add(0.5)
    assert w.problem(30.0) is None  # too little history for the running rule
    w.add(0.5)
    assert "running median" in w.problem(5.1)  # > 10 x 0.5 and > chance
    assert w.problem(4.9) is None  # 10x the median but better than guessing: not divergence
    w2 = LossWatch(vocab_size=100)
    for _ in range(LossWatch.MIN_STEPS):
        w2.add(0.01)
    assert w2.problem(0.5) is None and w2.problem(4.7)  # a near-perfect run: only past chance counts
