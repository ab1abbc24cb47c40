"""Config: defaults, YAML loading, `--set` overrides, validation errors that name the key, save/load round trip."""

from __future__ import annotations

import pytest

from seq2seq.errors import UserError
from seq2seq.config import CELLS, Config, from_dict, load_config, valid_keys


def test_defaults_validate():
    cfg = Config().validate()
    assert cfg.model.cell in CELLS
    assert from_dict({}) == Config()


def test_valid_keys_cover_every_section():
    keys = valid_keys()
    assert "model_dir" in keys
    for key in ("data.train_src", "model.cell", "model.hidden", "train.lr", "train.betas", "search.beam"):
        assert key in keys
    assert len(keys) == len(set(keys))


def test_load_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "model_dir: out/run1\n"
        "data:\n  vocab_size: 500\n  spm_type: bpe\n"
        "model:\n  cell: gru\n  hidden: 64\n  attention: dot\n"
        "train:\n  lr: 0.002\n  betas: [0.8, 0.99]\n"
        "search:\n  beam: 3\n"
    )
    cfg = load_config(path)
    assert cfg.model_dir == "out/run1"
    assert (cfg.data.vocab_size, cfg.data.spm_type) == (500, "bpe")
    assert (cfg.model.cell, cfg.model.hidden, cfg.model.attention) == ("gru", 64, "dot")
    assert cfg.train.lr == 0.002
    assert cfg.train.betas == (0.8, 0.99)
    assert cfg.search.beam == 3
    # untouched keys keep their defaults
    assert cfg.model.emb_dim == Config().model.emb_dim
    assert cfg.search.alpha == Config().search.alpha


def test_empty_yaml_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == Config()
    assert load_config(None) == Config()


def test_overrides_are_parsed_as_yaml():
    cfg = from_dict({"model": {"cell": "lstm"}}, ["model.cell=gru", "train.lr=0.0005"])
    assert cfg.model.cell == "gru"
    assert cfg.train.lr == 0.0005 and isinstance(cfg.train.lr, float)

    cfg = from_dict({}, ["model.hidden=128", "model.bidirectional=false", "train.betas=[0.9, 0.98]",
                         "model_dir=some/dir", "data.train_src=a.txt", "data.train_tgt=b.txt"])
    assert cfg.model.hidden == 128 and isinstance(cfg.model.hidden, int)
    assert cfg.model.bidirectional is False
    assert cfg.train.betas == (0.9, 0.98)
    assert cfg.model_dir == "some/dir"
    assert (cfg.data.train_src, cfg.data.train_tgt) == ("a.txt", "b.txt")


def test_override_beats_yaml_and_does_not_mutate_input(tmp_path):
    raw = {"model": {"cell": "lstm", "hidden": 64}}
    cfg = from_dict(raw, ["model.cell=rnn"])
    assert (cfg.model.cell, cfg.model.hidden) == ("rnn", 64)
    assert raw == {"model": {"cell": "lstm", "hidden": 64}}

    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 0.1\n")
    assert load_config(path, ["train.lr=0.01"]).train.lr == 0.01


def test_int_where_float_expected_is_coerced():
    cfg = from_dict({"train": {"lr": 1, "label_smoothing": 0}})
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert isinstance(cfg.train.label_smoothing, float)


@pytest.mark.parametrize("raw, overrides", [
    ({}, ["model.nope=1"]),
    ({"model": {"nope": 1}}, []),
    ({"nope": 1}, []),
    ({}, ["nope=1"]),
])
def test_unknown_key_lists_valid_keys(raw, overrides):
    with pytest.raises(UserError) as e:
        from_dict(raw, overrides)
    msg = str(e.value)
    assert "nope" in msg
    for key in valid_keys():
        assert key in msg


def test_override_without_equals_sign():
    with pytest.raises(UserError, match="key=value"):
        from_dict({}, ["model.cell"])


@pytest.mark.parametrize("raw, key", [
    ({"model": {"hidden": "big"}}, "model.hidden"),
    ({"model": {"hidden": 1.5}}, "model.hidden"),
    ({"model": {"hidden": True}}, "model.hidden"),
    ({"model": {"bidirectional": "yes please"}}, "model.bidirectional"),
    ({"train": {"lr": "fast"}}, "train.lr"),
    ({"train": {"betas": 0.9}}, "train.betas"),
    ({"model": {"cell": 3}}, "model.cell"),
])
def test_wrong_type_names_the_key(raw, key):
    with pytest.raises(UserError) as e:
        from_dict(raw)
    assert key in str(e.value)


def test_wrong_type_through_override():
    with pytest.raises(UserError, match=r"model\.hidden"):
        from_dict({}, ["model.hidden=big"])


@pytest.mark.parametrize("overrides, key", [
    (["model.cell=transformer"], "model.cell"),
    (["model.attention=luong"], "model.attention"),
    (["data.spm_type=wordpiece"], "data.spm_type"),
    (["train.optimizer=sgd"], "train.optimizer"),
    (["train.schedule=cosine"], "train.schedule"),
    (["train.device=tpu"], "train.device"),
])
def test_bad_choice_names_the_key(overrides, key):
    with pytest.raises(UserError) as e:
        from_dict({}, overrides)
    assert key in str(e.value)


def test_bad_choice_lists_the_choices():
    with pytest.raises(UserError) as e:
        from_dict({}, ["model.cell=transformer"])
    msg = str(e.value)
    assert "transformer" in msg
    for cell in CELLS:
        assert cell in msg


@pytest.mark.parametrize("overrides, key", [
    (["model.hidden=0"], "model.hidden"),
    (["model.hidden=33"], "model.hidden"),  # odd size with a bidirectional encoder
    (["train.lr=0"], "train.lr"),
    (["train.label_smoothing=1.0"], "train.label_smoothing"),
    (["search.nbest=6", "search.beam=5"], "search.nbest"),
    (["data.min_len=10", "data.max_len=5"], "data.min_len"),
    (["train.betas=[0.9]"], "train.betas"),
    (["data.train_src=a.txt"], "data.train_tgt"),
    (["data.train_src=a", "data.train_tgt=b", "data.train=c.tsv"], "data.train"),
    (["model.share_embeddings=true", "data.joint_vocab=false"], "share_embeddings"),
    (["model.attention=none"], "input_feeding"),
])
def test_invalid_values(overrides, key):
    with pytest.raises(UserError) as e:
        from_dict({}, overrides)
    assert key in str(e.value)


def test_section_must_be_a_mapping():
    with pytest.raises(UserError, match="model"):
        from_dict({"model": "gru"})


def test_invalid_yaml_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  cell: [gru\n  hidden: 3\n")
    with pytest.raises(UserError) as e:
        load_config(path)
    assert str(path) in str(e.value)
    assert "\n" not in str(e.value)


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(UserError, match="mapping"):
        load_config(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(UserError) as e:
        load_config(path)
    assert str(path) in str(e.value)


def test_save_load_round_trip(tmp_path):
    cfg = from_dict({"model_dir": str(tmp_path / "m")}, [
        "model.cell=gru", "model.hidden=48", "model.attention=general", "model.bidirectional=false",
        "train.lr=0.0005", "train.betas=[0.85, 0.95]", "train.min_lr=0.00001", "data.vocab_size=300",
        "data.train_src=a.txt", "data.train_tgt=b.txt", "search.beam=4", "search.nbest=2", "search.alpha=0.0",
    ])
    path = tmp_path / "config.yaml"
    cfg.save(path)
    again = load_config(path)
    assert again == cfg
    assert again.to_dict() == cfg.to_dict()


def test_default_round_trip(tmp_path):
    path = tmp_path / "config.yaml"
    Config().save(path)
    assert load_config(path) == Config()


# --- known bugs (see the report): each should be a one-line UserError, not a crash -----------------------------

def test_override_into_empty_section():
    cfg = from_dict({"model": None}, ["model.cell=gru"])
    assert cfg.model.cell == "gru"


def test_non_numeric_betas():
    with pytest.raises(UserError, match=r"train\.betas"):
        from_dict({}, ["train.betas=[0.9, x]"])


@pytest.mark.parametrize("overrides, key", [
    (["train.lr=inf"], "train.lr"),
    (["train.lr=.inf"], "train.lr"),
    (["train.lr=nan"], "train.lr"),
    (["train.max_minutes=.inf"], "train.max_minutes"),
    (["search.alpha=-.inf"], "search.alpha"),
    (["data.max_ratio=.nan"], "data.max_ratio"),
    (["train.betas=[0.9, .inf]"], "train.betas"),
])
def test_non_finite_numbers_are_refused(overrides, key):
    with pytest.raises(UserError) as e:
        from_dict({}, overrides)
    assert key in str(e.value) and "finite" in str(e.value)


def test_non_finite_number_in_a_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: .inf\n")
    with pytest.raises(UserError, match=r"train\.lr must be a finite number"):
        load_config(path)


@pytest.mark.parametrize("value", ["[a,b]", "{}", "", "null", "true"])
def test_model_dir_must_be_a_path(value):
    with pytest.raises(UserError, match="model_dir must be a folder path"):
        from_dict({}, [f"model_dir={value}"])


def test_model_dir_number_or_pathlike_is_a_path(tmp_path):
    assert from_dict({}, ["model_dir=2024"]).model_dir == "2024"
    assert from_dict({"model_dir": tmp_path, "data": {"train_src": tmp_path / "a", "train_tgt": "b"}}).model_dir \
        == str(tmp_path)


def test_optional_paths_must_be_strings():
    with pytest.raises(UserError, match=r"data\.train_src must be a string"):
        from_dict({}, ["data.train_src=[a, b]", "data.train_tgt=b"])


def test_valid_metric_choices():
    assert Config().train.valid_metric == "auto"
    for m in ("bleu", "chrf", "exact", "loss"):
        assert from_dict({}, [f"train.valid_metric={m}"]).train.valid_metric == m
    with pytest.raises(UserError, match="train.valid_metric"):
        from_dict({}, ["train.valid_metric=accuracy"])


def test_config_file_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("model_dir: caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError) as e:
        load_config(path)
    assert "UTF-8" in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value)


def test_save_is_atomic(tmp_path, monkeypatch):
    """A failure while writing config.yaml leaves the previous file whole and no temporary file."""
    path = tmp_path / "config.yaml"
    Config().save(path)
    before = path.read_text()

    def boom(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("seq2seq.config.os.replace", boom)
    with pytest.raises(OSError):
        from_dict({}, ["model.cell=gru"]).save(path)
    assert path.read_text() == before and [p.name for p in tmp_path.iterdir()] == ["config.yaml"]
