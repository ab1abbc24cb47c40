"""bench/monolingual.py end to end on tiny models and a Multi30k-shaped folder of generated sentences: the rows
its flags allow, one table, and the equalities that must hold (an ensemble of a model with itself, or a
"back-translation" model that is the baseline, scores as the baseline; all together equals the fused row)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import lm_config

from conftest import load_script, reverse_files, reverse_pairs, tiny_config, write_lines
from seq2seq.train.trainer import Trainer


def _bench():
    return load_script("bench/monolingual.py", "bench_monolingual")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    raw = tmp / "multi30k" / "task1" / "raw"
    raw.mkdir(parents=True)
    for seed, split in enumerate(("val", "test_2016_flickr", "test_2017_flickr"), 10):
        src, tgt = reverse_pairs(30, seed=seed)
        write_lines(raw / f"{split}.en", src)
        write_lines(raw / f"{split}.de", tgt)
    tr = tiny_config(tmp / "tr", data={**reverse_files(tmp / "tr" / "data"), "src_lang": "en", "tgt_lang": "de"},
                     model={"emb_dim": 32, "hidden": 64, "attention": "general"},
                     train={"max_steps": 150, "valid_every": 150, "batch_tokens": 1200, "lr": 0.005})
    Trainer(tr, progress=False).train()
    lm = lm_config(tmp / "lm", spm_model=f"{tr.model_dir}/spm.model", train={"max_steps": 10, "valid_every": 10})
    lm.data.tgt_lang = "de"
    write_lines(tmp / "lm" / "train.txt", Path(tr.data.train_tgt).read_text().splitlines()[:300])
    Trainer(lm, progress=False).train()
    return {"tr": tr.model_dir, "lm": lm.model_dir, "root": str(tmp / "multi30k")}


def test_every_row_and_the_equalities_that_must_hold(setup):
    tr, lm, root = setup["tr"], setup["lm"], setup["root"]
    out = _bench().main(["--baseline", tr, "--bt", tr, "--lm", lm, "--ensemble", tr, "--root", root, "--limit", "20",
                         "--weights", "0.1", "0.3", "--splits", "test_2016_flickr", "test_2017_flickr"])
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == "en->de":
            rows[re.sub(r" \(weight .*\)", "", cells[1])] = cells
    assert list(rows) == ["baseline", "+ back-translation", "+ LM fusion", "+ ensemble of 3", "all together"]
    assert all(len(r) == 2 + 2 * 2 + 1 and float(r[-1]) > 0 for r in rows.values())  # 2 sets x 2 BLEUs, sent/s
    scores = {k: r[2:-1] for k, r in rows.items()}
    assert float(scores["baseline"][0]) > 0  # the model says something: the equalities below mean something
    assert scores["+ back-translation"] == scores["baseline"] == scores["+ ensemble of 3"]
    assert scores["all together"] == scores["+ LM fusion"]
    assert re.search(r"LM fusion \(weight 0\.[13]\)", out) and "first 20 sentences" in out
    assert "nrefs:1|case:lc" in out and "de->en" not in out  # no baseline given for de->en: no rows


def test_without_extra_models_only_the_baseline_row(setup):
    out = _bench().main(["--baseline", setup["tr"], "--root", setup["root"], "--limit", "5", "--splits", "val"])
    assert [line.split("|")[2].strip() for line in out.splitlines() if line.startswith("| en->de")] == ["baseline"]
