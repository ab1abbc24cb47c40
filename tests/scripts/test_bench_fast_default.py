"""bench/fast_default.py: the rule (the fastest setting within the tolerance of the best) on hand-made rows, and
the script end to end on a tiny model: one row per candidate, an ensemble of a model with itself scoring as it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import load_script, reverse_pairs, tiny_config, write_lines
from seq2seq.train.trainer import Trainer


def _bench():
    return load_script("bench/fast_default.py", "bench_fast_default")


def test_the_fast_default_is_the_fastest_row_within_the_tolerance():
    b = _bench()
    rows = [b.Row("ens", 5, 1.0, True, 43.05, 150.0), b.Row("one", 5, 1.0, True, 42.29, 300.0),
            b.Row("one", 5, 1.2, False, 42.65, 260.0), b.Row("ens", 3, 1.0, True, 42.90, 200.0),
            b.Row("one", 1, 1.0, True, 40.00, 900.0)]
    best, default = b.pick(rows, 0.5)
    assert best is rows[0] and default is rows[2]  # 42.65 >= 42.55 at 260 sent/s; 42.29 is 0.76 below
    assert b.pick(rows, 0.4)[1] is rows[2]  # exactly 0.40 below the best: within
    assert b.pick(rows, 0.3)[1] is rows[3]  # 42.90 (0.15 below) at 200 sent/s
    assert b.pick(rows, 0.0)[1] is rows[0] and b.pick(rows, 10.0)[1] is rows[4]
    near = rows + [b.Row("ens", 3, 1.2, True, 42.60, 262.0)]  # 0.8% faster than 42.65 at 260: a timing tie
    assert b.pick(near, 0.5)[1] is near[5] and b.pick(near, 0.5, tie=0.02)[1] is rows[2]  # the higher BLEU wins
    assert b.pick(near, 0.5, tie=0.001)[1] is near[5]
    out = b.table(rows, 0.5)
    assert out.count("fastest within 0.5") == 1 and out.count("| best") == 1
    assert [line.split("|")[7].strip() for line in out.splitlines()[2:]] == ["900.0", "300.0", "260.0", "200.0",
                                                                            "150.0"]  # fastest first


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("fast-default")
    cfg = tiny_config(tmp, train={"max_steps": 120, "valid_every": 120, "lr": 0.005})
    Trainer(cfg, progress=False).train()
    src, ref = reverse_pairs(24, seed=9)
    return Path(cfg.model_dir), write_lines(tmp / "val.src", src), write_lines(tmp / "val.ref", ref)


def test_every_candidate_is_a_row_and_a_model_with_itself_scores_as_it(model):
    m, src, ref = model
    out = _bench().main(["--systems", str(m), f"{m}+{m}", "--beams", "1", "3", "--alphas", "0", "1",
                         "--shortlist", "on", "--src", str(src), "--ref", str(ref), "--threads", "1"])
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines()[2:]]
    assert len(rows) == 2 * 2 * 2 and all(float(r[6]) > 0 for r in rows)
    bleu = {(r[0], r[1], r[2]): r[4] for r in rows}
    for beam in ("1", "3"):
        for alpha in ("0", "1"):
            assert bleu[(str(m), beam, alpha)] == bleu[(f"{m}+{m}", beam, alpha)]
    assert float(max(bleu.values(), key=float)) > 0  # the model says something: the equalities mean something
    assert sum("fastest within 0.5" in line for line in out.splitlines()) == 1
