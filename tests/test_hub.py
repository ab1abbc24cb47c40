"""Shipped models by name and language pair, export (fp16, averaging), and int8 quantization."""

import os
import shutil

import pytest
import torch
import yaml

from conftest import tiny_config
from seq2seq import modeldir
from seq2seq.errors import UserError
from seq2seq.train.export import export
from seq2seq import hub as hub_module
from seq2seq.cli import main
from seq2seq.hub import checkpoints_dir, resolve, search_path, shipped
from seq2seq.train.trainer import Trainer
from seq2seq.translate import Translator


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hub")
    cfg = tiny_config(tmp, train={"max_steps": 30, "valid_every": 10, "keep_last": 3},
                      model={"cell": "lstm"})
    Trainer(cfg, progress=False).train()
    return tmp / "model"


@pytest.fixture
def hub(tmp_path, monkeypatch, run_dir):
    """A checkpoints/ folder with an xx->yy and a yy->xx model exported from the tiny run."""
    root = tmp_path / "checkpoints"
    for name, (s, t) in {"toy-xx-yy": ("xx", "yy"), "toy-yy-xx": ("yy", "xx")}.items():
        out = export(run_dir, root / name)
        cfg = yaml.safe_load((out / "config.yaml").read_text())
        cfg["data"].update(src_lang=s, tgt_lang=t)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg))
        (out / "card.md").write_text(f"# {name}\n\nSummary: toy model {s}->{t}\n")
    monkeypatch.setenv("SEQ2SEQ_MODELS", str(root))
    monkeypatch.delenv("SEQ2SEQ_CHECKPOINTS", raising=False)
    monkeypatch.setattr(hub_module, "checkpoints_dir", lambda: tmp_path / "no-shipped-models")
    return root


def test_export_is_fp16_and_translates_like_the_original(run_dir, tmp_path):
    out = export(run_dir, tmp_path / "exp")
    sd = torch.load(out / "model.pt")
    assert all(v.dtype == torch.float16 for v in sd.values() if v.is_floating_point())
    tied = sd["decoder.output.weight"]  # tied softmax: saved once, not once per name
    assert sd["decoder.embedding.weight"].untyped_storage().data_ptr() == tied.untyped_storage().data_ptr()
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "log.jsonl", "model.pt", "shortlist.pt", "spm.model"]
    texts = ["1 2 3", "4 5 6 7", "9"]
    a = Translator.load(run_dir, "cpu").translate(texts)
    b = Translator.load(out, "cpu").translate(texts)
    assert a == b


def test_export_average(run_dir, tmp_path):
    out = export(run_dir, tmp_path / "avg", average_last=3, fp16=False)
    steps = modeldir.step_checkpoints(run_dir)
    expected = modeldir.average(steps)
    got = torch.load(out / "model.pt")
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert got["decoder.embedding.weight"].data_ptr() == got["decoder.output.weight"].data_ptr()
    with pytest.raises(UserError, match="fewer"):
        export(run_dir, tmp_path / "x", average_last=50)


def test_export_sets_decoding_defaults_only(run_dir, tmp_path, capsys):
    """--set search.KEY=VALUE changes the copy's decoding defaults and nothing else; other sections, unknown keys
    and bad values are one error line before anything is written."""
    assert main(["export", "--model", str(run_dir), "--out", str(tmp_path / "e"), "--set", "search.beam=2",
                 "search.ensemble=[other-model]"]) == 0
    got, was = (yaml.safe_load((d / "config.yaml").read_text()) for d in (tmp_path / "e", run_dir))
    assert got["search"] == {**was["search"], "beam": 2, "ensemble": ["other-model"]}
    assert {k: v for k, v in got.items() if k != "search"} == {k: v for k, v in was.items() if k != "search"}
    capsys.readouterr()
    for bad, says in (("model.hidden=8", "decoding defaults only"), ("search.beam=0", "search.beam must be between 1"),
                      ("search.nope=1", "unknown config key"), ("search.ensemble=3", "search.ensemble")):
        assert main(["export", "--model", str(run_dir), "--out", str(tmp_path / "bad"), "--set", bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and err.count("\n") == 1 and says in err, err
        assert not (tmp_path / "bad").exists()


def test_resolve_by_name_pair_and_dir(hub, run_dir):
    assert set(shipped()) == {"toy-xx-yy", "toy-yy-xx"}
    assert resolve("toy-yy-xx") == hub / "toy-yy-xx"
    assert resolve(None, "yy", "xx") == hub / "toy-yy-xx"
    assert resolve(None, "xx") == hub / "toy-xx-yy"
    assert resolve(str(run_dir)) == run_dir
    with pytest.raises(UserError, match="en->de"):  # the default pair is not shipped here
        resolve(None)
    with pytest.raises(UserError, match="toy-xx-yy"):
        resolve("nonexistent")


def test_search_path_user_folders_first_then_alias_then_shipped(run_dir, tmp_path, monkeypatch):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    monkeypatch.setenv("SEQ2SEQ_MODELS", f"{a}{os.pathsep}{b}{os.pathsep}")  # an empty entry is skipped
    monkeypatch.setenv("SEQ2SEQ_CHECKPOINTS", str(c))  # the earlier name still works, after SEQ2SEQ_MODELS
    assert search_path() == [a, b, c, checkpoints_dir()]
    builtin = {d.name for d in checkpoints_dir().iterdir() if (d / "config.yaml").is_file()}
    assert builtin, "the shipped models are missing"
    shadow = sorted(builtin)[0]  # a user's model with a shipped model's name hides it
    export(run_dir, b / shadow)
    export(run_dir, c / "mine")
    shutil.copytree(b / shadow, a / "also-mine")
    models = shipped()
    assert set(models) == builtin | {"mine", "also-mine"}
    assert models[shadow]["path"] == b / shadow and models["mine"]["path"] == c / "mine"
    assert resolve("also-mine") == a / "also-mine"
    monkeypatch.delenv("SEQ2SEQ_MODELS")
    monkeypatch.delenv("SEQ2SEQ_CHECKPOINTS")
    assert search_path() == [checkpoints_dir()] and set(shipped()) == builtin


def test_a_broken_folder_in_a_collection_is_skipped_with_a_warning(tmp_path, monkeypatch, caplog, capsys):
    """One unreadable model folder on SEQ2SEQ_MODELS hides nothing else: the shipped models, and `seq2seq models`,
    still work, and the folder is named in a warning."""
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.yaml").write_bytes(b"\xff\xfe not utf-8")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "config.yaml").write_text("- a list, not a mapping\n")
    monkeypatch.setenv("SEQ2SEQ_MODELS", str(tmp_path))
    monkeypatch.delenv("SEQ2SEQ_CHECKPOINTS", raising=False)
    with caplog.at_level("WARNING", logger="seq2seq.hub"):
        models = shipped()
    assert "bad" not in models and "odd" not in models and set(models) == set(os.listdir(checkpoints_dir())) - {
        p for p in os.listdir(checkpoints_dir()) if not (checkpoints_dir() / p / "config.yaml").is_file()}
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "bad/config.yaml: not a readable model config" in warned and "odd/config.yaml: not a model config" in warned
    assert main(["models"]) == 0 and "multi30k-en-de" in capsys.readouterr().out
    with pytest.raises(UserError, match="no model directory or shipped model named 'bad'"):
        resolve("bad")


def test_models_rows_are_short_and_long_gives_whole_summaries(capsys, monkeypatch):
    monkeypatch.delenv("SEQ2SEQ_MODELS", raising=False)
    monkeypatch.delenv("SEQ2SEQ_CHECKPOINTS", raising=False)
    assert main(["models"]) == 0
    short = capsys.readouterr().out.splitlines()
    assert short and all(len(row) <= 100 for row in short)
    assert main(["models", "--long"]) == 0
    long = capsys.readouterr().out.splitlines()
    assert [r.split()[0] for r in long] == [r.split()[0] for r in short]
    for name, m in shipped().items():
        assert any(r.startswith(name + " ") and m["summary"] in r for r in long)


def test_cli_models_and_from_to(hub, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "toy-xx-yy" in out and "xx->yy" in out and "toy model" in out
    assert main(["translate", "--from", "yy", "--to", "xx", "--beam", "2", "1 2 3"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main(["translate", "--from", "de", "--to", "fr", "1 2"]) == 2
    assert capsys.readouterr().err.startswith("error: no shipped model translates de->fr")


def test_quantized_model_translates(run_dir):
    tr = Translator.load(run_dir, "cpu", quantize=True, beam=2)
    kinds = {type(m).__module__ for m in tr.model.modules()}
    assert any("quantized" in k for k in kinds)
    out = tr.translate(["1 2 3", "", "4 5"])
    assert len(out) == 3 and out[1] == ""


def test_cli_models_says_what_each_shipped_model_reads(capsys, monkeypatch):
    """A translator reads its source language, a captioner an image, a language model text of its own language."""
    monkeypatch.delenv("SEQ2SEQ_MODELS", raising=False)
    monkeypatch.delenv("SEQ2SEQ_CHECKPOINTS", raising=False)
    assert main(["models"]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    for name, m in shipped().items():
        reads = {"translate": m["src_lang"], "caption": "image", "lm": "text"}[m["task"]]
        assert lines[name][1:3] == [m["task"], f"{reads}->{m['tgt_lang']}"]
