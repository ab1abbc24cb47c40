"""A model whose config names ensemble members (search.ensemble) is that ensemble wherever it is loaded alone:
the Python API, translate/evaluate, report and serve decode exactly as the explicit `--model A --model B`;
`--no-ensemble` (ensemble=False) decodes it alone; members are not expanded again; a bad member or value is one
clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import data_files, tiny_config, with_members
from seq2seq.errors import UserError
from seq2seq.cli import main
from seq2seq.config import from_dict, load_config
from seq2seq.translate import Translator
from seq2seq.train.trainer import Trainer

SENTENCES = ["1 2 3", "4 5 6 7", "9 8 7 6 5"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """Two reversal translators on one sentencepiece model (other seeds, so other weights)."""
    tmp = tmp_path_factory.mktemp("configured-ensemble")
    a = tiny_config(tmp / "a", train={"max_steps": 30, "valid_every": 30})
    Trainer(a, progress=False).train()
    b = tiny_config(tmp / "b", data={**data_files(Path(a.model_dir)), "spm_model": str(Path(a.model_dir) / "spm.model")},
                    train={"max_steps": 30, "valid_every": 30, "seed": 7})
    Trainer(b, progress=False).train()
    return Path(a.model_dir), Path(b.model_dir)


def _decoded(tr: Translator) -> list[tuple[str, float]]:
    return [(t.text, round(t.score, 4)) for t in tr.generate(SENTENCES)]


def test_a_model_naming_a_member_is_that_ensemble_unless_asked_alone(pair, tmp_path):
    a, b = pair
    leader = with_members(a, tmp_path, [str(b)])
    ens = Translator.load(leader, "cpu")
    assert ens.model_dirs == [leader, b] and len(ens.members) == 1
    assert _decoded(ens) == _decoded(Translator.load([a, b], "cpu"))  # the explicit ensemble, exactly
    alone = Translator.load(leader, "cpu", ensemble=False)
    assert alone.model_dirs == [leader] and not alone.members
    assert _decoded(alone) == _decoded(Translator.load(a, "cpu"))
    assert _decoded(ens) != _decoded(alone)  # the member does change the scores


def test_a_relative_member_is_found_beside_the_model(pair, tmp_path):
    """A member named relative to the model's own folder (how a shipped model names a sibling) is found from any
    working directory."""
    a, b = pair
    shutil.copytree(b, tmp_path / "sibling")
    leader = with_members(a, tmp_path, ["../sibling"])
    assert [d.resolve() for d in Translator.load(leader, "cpu").model_dirs] == [leader.resolve(),
                                                                                  (tmp_path / "sibling").resolve()]


def test_members_and_explicit_lists_are_not_expanded_again(pair, tmp_path):
    a, b = pair
    member = with_members(b, tmp_path / "m", [str(a)])  # the member names a member of its own
    leader = with_members(a, tmp_path / "l", [str(member)])
    assert Translator.load(leader, "cpu").model_dirs == [leader, member]  # not [leader, member, a]
    assert Translator.load([leader, b], "cpu").model_dirs == [leader, b]  # given together: exactly those


def test_a_missing_member_is_one_clear_error_and_no_ensemble_still_works(pair, tmp_path, capsys):
    a, _ = pair
    leader = with_members(a, tmp_path, ["no-such-model"])
    with pytest.raises(UserError, match="search.ensemble member 'no-such-model'"):
        Translator.load(leader, "cpu")
    rc = main(["translate", "--model", str(leader), "1 2 3"])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--no-ensemble" in err
    assert main(["translate", "--model", str(leader), "--no-ensemble", "1 2 3"]) == 0
    assert capsys.readouterr().out.count("\n") == 1  # one line: its translation


def test_a_member_of_another_vocabulary_is_refused(pair, tmp_path):
    a, _ = pair
    other = tiny_config(tmp_path / "o", data=data_files(a), train={"max_steps": 1, "valid_every": 1})
    other.data.spm_type = "word"
    Trainer(other, progress=False).train()
    leader = with_members(a, tmp_path, [other.model_dir])
    with pytest.raises(UserError, match="different vocabularies"):
        Translator.load(leader, "cpu")


def test_the_cli_decodes_the_configured_ensemble_and_no_ensemble_alone(pair, tmp_path, capsys):
    a, b = pair
    leader = with_members(a, tmp_path, [str(b)])

    def run(*argv) -> str:
        assert main(["translate", *map(str, argv), *SENTENCES]) == 0
        return capsys.readouterr().out

    assert run("--model", leader) == run("--model", a, "--model", b)
    assert run("--model", leader, "--no-ensemble") == run("--model", a)


@pytest.mark.parametrize("value, says", [("abc", "must be a list"), ([1], "must be a list"),
                                         ([""], "must be a list"), ({"a": 1}, "must be a list")])
def test_bad_ensemble_values_are_refused_at_load(value, says):
    with pytest.raises(UserError, match=says):
        from_dict({"search": {"ensemble": value}})


def test_the_setting_round_trips_through_config_yaml(tmp_path):
    cfg = from_dict({"search": {"ensemble": ["multi30k-en-de-v2", "../other"]}})
    assert cfg.search.ensemble == ("multi30k-en-de-v2", "../other")
    cfg.save(tmp_path / "config.yaml")
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["search"]["ensemble"] == ["multi30k-en-de-v2",
                                                                                            "../other"]
    assert load_config(tmp_path / "config.yaml").search.ensemble == cfg.search.ensemble
    assert from_dict({}).search.ensemble == ()


def test_models_lists_the_members_and_serve_and_report_load_them(pair, tmp_path, capsys, monkeypatch):
    from seq2seq.report import ReportOptions
    from seq2seq.report.decode import System
    from seq2seq.serve.registry import load_served

    a, b = pair
    leader = with_members(a, tmp_path / "hub", [str(b)])
    monkeypatch.setenv("SEQ2SEQ_MODELS", str(tmp_path / "hub"))
    assert main(["models", "--long"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(leader.name))
    assert f"ensemble with {b}" in line
    translators, _ = load_served([str(leader)], [], "cpu")
    assert translators[leader.name].model_dirs == [leader, b]
    translators, _ = load_served([str(leader)], [], "cpu", ensemble=False)
    assert translators[leader.name].model_dirs == [leader]
    (tmp_path / "s").write_text("1 2 3\n")
    for ensemble, dirs in ((True, [leader, b]), (False, [leader])):
        opts = ReportOptions(out=tmp_path / "r.html", models=(str(leader),), src=str(tmp_path / "s"),
                             refs=(str(tmp_path / "s"),), ensemble=ensemble)
        assert System.load(opts.models, "translate", opts).model_dirs == dirs
