"""Reports of combined systems: an ensemble (--model twice) with shallow LM fusion (--lm/--lm-weight) scores as
`seq2seq evaluate` does with the same options and says which models, LM and weight produced it; --compare is
decoded without the fusion; an LM of another vocabulary, --lm without a weight, and a captioning ensemble are one
error line each, before any decoding."""

from __future__ import annotations

import json

import pytest
from conftest import lm_config, lm_of
from pages import check_page, run, score_cells, user_error

from conftest import reverse_pairs, tiny_config, write_lines
from seq2seq.train.trainer import Trainer


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """A tiny reversal translator, a language model on its sentencepiece model, one on its own (word) model, and
    a test set."""
    tmp = tmp_path_factory.mktemp("report-ens")
    tr = tiny_config(tmp / "tr", train={"max_steps": 40, "valid_every": 40})
    Trainer(tr, progress=False).train()
    lm = lm_of(tr, tmp / "lm", max_steps=10, valid_every=10)
    other = lm_config(tmp / "other", train={"max_steps": 2, "valid_every": 2})
    Trainer(other, progress=False).train()
    src, ref = reverse_pairs(20, seed=5, min_len=1, max_len=10)
    return {"model": tr.model_dir, "lm": lm.model_dir, "other_lm": other.model_dir, "tmp": tmp,
            "src": write_lines(tmp / "test.src", src), "ref": write_lines(tmp / "test.ref", ref)}


def _combined(s: dict) -> list[str]:
    return ["--model", s["model"], "--model", s["model"], "--lm", s["lm"], "--lm-weight", "0.5", "--src", s["src"],
            "--ref", s["ref"], "--beam", "2", "--batch-size", "8"]


def test_an_ensemble_with_fusion_scores_as_evaluate_and_names_its_parts(system, capsys):
    out = system["tmp"] / "ens.html"
    rc, _, _ = run(capsys, ["report", *_combined(system), "--bootstrap", "50", "--compare", system["model"],
                            "--out", str(out)])
    assert rc == 0
    rc, js, _ = run(capsys, ["evaluate", *_combined(system), "--json"])
    assert rc == 0
    want = {k: v["score"] for k, v in json.loads(js).items()}
    page = check_page(out)
    assert score_cells(page) == pytest.approx(want, abs=1e-9)
    assert "significance" in page.sections  # the fused ensemble against the plain model
    text, md = out.read_text(), out.with_suffix(".md").read_text()
    for doc in (text, md):
        assert "tr/model + tr/model + lm/model x 0.5" in doc  # the title: both members, the LM and its weight
        assert "2 models, log-probabilities averaged" in doc
        assert f"{system['lm']}, weight 0.5" in doc  # the card's fusion row
        assert f"shallow fusion with {system['lm']} x 0.5" in doc  # the search settings


def test_compare_is_decoded_without_the_fusion(system):
    from seq2seq.report import ReportOptions
    from seq2seq.report.decode import System

    opts = ReportOptions(out="r.html", src="s", refs=("r",), models=(system["model"],) * 2, lm=system["lm"],
                         lm_weight=0.5, device="cpu")
    own = System.load(opts.models, "translate", opts)
    base = System.load(system["model"], "translate", opts, flag="--compare")
    assert (own.search.lm, own.search.lm_weight) == (system["lm"], 0.5) and len(own.engine.members) == 1
    assert own.engine.lms  # loaded at once: a wrong LM is refused before the decoding
    assert not base.search.lm_weight and base.engine.members == [] and base.name == "tr/model"


def test_bad_combinations_are_one_error_line_before_decoding(system, capsys, monkeypatch):
    from seq2seq.translate import Translator

    monkeypatch.setattr(Translator, "generate", lambda *a, **k: pytest.fail("decoded before refusing"))
    out = system["tmp"] / "bad.html"
    base = ["report", "--model", system["model"], "--src", system["src"], "--ref", system["ref"], "--out", str(out)]
    cases = [(["--lm", system["other_lm"], "--lm-weight", "0.3"], "another sentencepiece model"),
             (["--lm", system["lm"]], "--lm needs --lm-weight"),
             (["--lm", system["lm"], "--lm-weight", "nan"], "--lm-weight must be a number between 0 and 10")]
    for extra, needle in cases:
        assert needle in user_error(*run(capsys, base + extra)[::2])
    assert not out.exists()


def test_a_plain_report_has_no_fusion_rows(system, capsys):
    out = system["tmp"] / "plain.html"
    assert run(capsys, ["report", "--model", system["model"], "--src", system["src"], "--ref", system["ref"],
                        "--bootstrap", "20", "--attention", "0", "--out", str(out)])[0] == 0
    text = out.read_text()
    assert "shallow fusion" not in text and "log-probabilities averaged" not in text
    assert "<title>tr/model: translation evaluation report</title>" in text
