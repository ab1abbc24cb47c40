"""train.init_from: a new run starts from another model's weights, for the parts asked for, where shapes match."""

from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from seq2seq.errors import UserError
from seq2seq.train.export import init_from
from seq2seq.model import build_model
from seq2seq.train.trainer import Trainer


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("src")
    cfg = tiny_config(tmp, train={"max_steps": 10, "valid_every": 10})
    Trainer(cfg, progress=False).train()
    return Path(cfg.model_dir)


def test_init_from_copies_matching_parts_only(source, tmp_path):
    cfg = tiny_config(tmp_path)
    from seq2seq.modeldir import weights

    src_w = weights(source)
    vocab = src_w["encoder.embedding.weight"].size(0)
    model = build_model(cfg.model, vocab, vocab + 3)  # the target vocabulary differs: decoder embedding/output
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copied, kept = init_from(model, source, ("encoder",))
    assert copied and all(k.startswith("encoder.") for k in copied)
    assert not kept  # every encoder tensor matched
    state = model.state_dict()
    for k in copied:
        assert torch.equal(state[k], src_w[k])
    assert all(torch.equal(state[k], before[k]) for k in state if k.startswith("decoder."))
    copied, kept = init_from(model, source, ("decoder",))
    assert "decoder.embedding.weight" in kept  # a different vocabulary size: left fresh
    assert "decoder.bridge.weight" in copied


def test_training_starts_from_it_and_says_so(source, tmp_path, capsys):
    cfg = tiny_config(tmp_path, train={"max_steps": 1, "valid_every": 1, "init_from": str(source),
                                       "init_parts": ["encoder"]})
    from seq2seq.modeldir import weights

    tr = Trainer(cfg, progress=False)

    src_w = weights(source)
    assert torch.equal(tr.model.state_dict()["encoder.embedding.weight"], src_w["encoder.embedding.weight"])
    assert "initialised" in capsys.readouterr().err


def test_init_from_a_missing_model_is_one_error(tmp_path):
    cfg = tiny_config(tmp_path, train={"init_from": str(tmp_path / "nowhere")})
    with pytest.raises(UserError, match="not found"):
        Trainer(cfg, progress=False)
