"""scripts/card.py: the training row names the validation metric that picked the checkpoint (BLEU for old logs)."""

from __future__ import annotations

import pytest

from conftest import load_script

card = load_script("scripts/card.py", "card")


def _log(valid: list[dict]) -> list[dict]:
    return [{"type": "train", "step": 1, "time": 0.0}, *({"type": "valid", **v} for v in valid),
            {"type": "train", "step": 400, "time": 600.0}]


def test_old_log_without_metric_is_bleu():
    log = _log([{"step": 100, "bleu": 10.0, "time": 1.0}, {"step": 200, "bleu": 12.5, "time": 2.0},
                {"step": 300, "bleu": 11.0, "time": 3.0}])
    assert card.best_validation([r for r in log if r["type"] == "valid"]) == ("bleu", 200, 12.5)
    line = card.training_line(log)
    assert line.startswith("200 steps to the best validation BLEU 12.50 (greedy; the metric that picked")
    assert "400 steps in all, 10.0 minutes wall time" in line


def test_log_with_metric_names_it():
    rows = [{"step": 100, "bleu": 0.0, "metric": "exact", "score": 40.0, "best_score": 40.0, "best_step": 100},
            {"step": 200, "bleu": 0.0, "metric": "exact", "score": 90.0, "best_score": 90.0, "best_step": 200},
            {"step": 300, "bleu": 0.0, "metric": "exact", "score": 85.0, "best_score": 90.0, "best_step": 200}]
    line = card.training_line(_log([{**r, "time": 1.0} for r in rows]), valid_beam=4)
    assert line.startswith("200 steps to the best validation exact match % 90.00 (beam 4; the metric that picked")


@pytest.mark.parametrize("metric, shown", [("loss", "loss 1.2346"), ("chrf", "chrF 1.23"), ("cider", "CIDEr-D 1.23")])
def test_metric_formats(metric, shown):
    rows = [{"step": 100, "bleu": 0.0, "metric": metric, "score": 1.23456, "best_score": 1.23456, "best_step": 100,
             "time": 1.0}]
    assert shown in card.training_line(_log(rows))
