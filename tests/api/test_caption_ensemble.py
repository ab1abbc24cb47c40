"""Captioner ensembles: a captioner with itself captions exactly as it does alone; two different captioners' greedy
caption is, step by step, the arg-max of their averaged log-probabilities (checked against teacher-forced forward
passes, not search); bad combinations are one UserError naming both folders, and one error line (exit 2) in the
CLI."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from conftest import caption_config, draw, shapes_dataset
from seq2seq.errors import UserError
from seq2seq.caption import Captioner
from seq2seq.cli import main
from seq2seq.data.images import eval_transform
from seq2seq.data.tokenizer import BOS, EOS
from seq2seq.train.trainer import Trainer


def _train(tmp: Path, data: Path, files: dict, seed: int, **data_overrides) -> Path:
    cfg = caption_config(tmp, files, max_steps=60, valid_every=60, log_every=60, seed=seed)
    cfg.data.images_dir = str(data)
    for k, v in data_overrides.items():
        setattr(cfg.data, k, v)
    Trainer(cfg, progress=False).train()
    return Path(cfg.model_dir)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two shapes captioners on one sentencepiece model (other seeds: other random backbones and decoders), one on
    another sentencepiece model, and one that sees 48px images."""
    tmp = tmp_path_factory.mktemp("capens")
    files = shapes_dataset(tmp / "data", n_train=60, n_valid=6)
    a = _train(tmp / "a", tmp / "data", files, seed=0)
    b = _train(tmp / "b", tmp / "data", files, seed=1, spm_model=str(a / "spm.model"))
    words = _train(tmp / "c", tmp / "data", files, seed=2, spm_type="char", vocab_size=24)
    big = _train(tmp / "d", tmp / "data", files, seed=3, spm_model=str(a / "spm.model"), image_size=48)
    return {"a": a, "b": b, "other_vocab": words, "big": big}


def _images(n: int = 4) -> list:
    rng = random.Random(5)
    return [draw(c, s, rng) for c, s in [("red", "square"), ("blue", "circle"), ("green", "circle"),
                                         ("red", "circle")][:n]]


def test_a_captioner_with_itself_captions_as_it_does_alone(models):
    """Averaging a distribution with itself changes nothing: the same captions, n-best, scores and attention."""
    alone = Captioner.load(models["a"], "cpu", beam=3, nbest=2)
    twice = Captioner.load([models["a"], models["a"]], "cpu", beam=3, nbest=2)
    assert twice.members[0].encoder.backbone is twice.model.encoder.backbone  # equal backbones: one, run once
    assert twice.model_dirs == [models["a"], models["a"]]
    one, two = alone.generate(_images(), return_attention=True), twice.generate(_images(), return_attention=True)
    assert [c.text for c in one] == [c.text for c in two] and all(c.text for c in one)
    for x, y in zip(one, two):
        assert [t for t, _ in x.nbest] == [t for t, _ in y.nbest]
        assert [s for _, s in x.nbest] == pytest.approx([s for _, s in y.nbest], abs=1e-4)
        assert torch.allclose(x.attention, y.attention, atol=1e-5) and x.region == y.region


def _forced_logp(cap: Captioner, model, image, ids: list[int]) -> torch.Tensor:
    """log p(next token | image, the tokens before) at every position of BOS + ids: (len(ids), V), by the
    model's teacher-forced forward pass."""
    x = eval_transform(cap.image_size, cap.image_transform)(image).unsqueeze(0)  # (1, 3, S, S)
    with torch.no_grad():
        logits, _ = model(x, torch.ones(1, dtype=torch.long), torch.tensor([[BOS] + ids[:-1]]))  # (1, T, V)
    return torch.log_softmax(logits[0].float(), -1)


def test_two_captioners_decode_the_average_of_their_log_probabilities(models):
    """Greedy search over the ensemble picks, at every step, the arg-max of (log p_A + log p_B) / 2 renormalised,
    and the caption's score is the sum of those renormalised log-probabilities (both by forward passes)."""
    ens = Captioner.load([models["a"], models["b"]], "cpu", beam=1, alpha=0.0, max_len_offset=40)
    assert ens.members[0].encoder.backbone is not ens.model.encoder.backbone  # other random weights: not shared
    images = _images(2)
    caps = ens.generate(images)
    for image, cap in zip(images, caps):
        ids = [ens.tok.sp.piece_to_id(p) for p in cap.tokens[:-1]] + [EOS]
        avg = (_forced_logp(ens, ens.model, image, ids) + _forced_logp(ens, ens.members[0], image, ids)) / 2
        logp = torch.log_softmax(avg, -1)  # (T, V)
        assert logp.argmax(-1).tolist() == ids  # every step's choice, EOS included
        assert cap.score == pytest.approx(logp[torch.arange(len(ids)), ids].sum().item(), abs=1e-4)
    assert all(c.text for c in caps)


def test_different_vocabularies_are_refused_naming_both(models):
    with pytest.raises(UserError, match="different vocabularies") as e:
        Captioner.load([models["a"], models["other_vocab"]], "cpu")
    assert str(models["a"]) in str(e.value) and str(models["other_vocab"]) in str(e.value)


def test_different_image_sizes_are_refused_naming_both(models):
    with pytest.raises(UserError, match="image_size") as e:
        Captioner.load([models["a"], models["big"]], "cpu")
    assert str(models["a"]) in str(e.value) and str(models["big"]) in str(e.value)


def test_the_caption_command_takes_an_ensemble(models, tmp_path, capsys):
    path = tmp_path / "red.png"
    _images(1)[0].save(path)
    want = Captioner.load([models["a"], models["b"]], "cpu", beam=2).caption(str(path))
    capsys.readouterr()
    assert main(["caption", "--model", str(models["a"]), "--model", str(models["b"]), "--beam", "2", str(path)]) == 0
    assert capsys.readouterr().out == want + "\n"


@pytest.mark.parametrize("other,says", [("other_vocab", "different vocabularies"), ("big", "image_size"),
                                        ("translator", "not a captioning model")])
def test_bad_ensembles_in_the_cli_are_one_error_line(models, tmp_path, capsys, other, says):
    path = tmp_path / "red.png"
    _images(1)[0].save(path)
    if other == "translator":
        from conftest import reverse_files, tiny_config

        cfg = tiny_config(tmp_path, data=reverse_files(tmp_path / "rev", n_train=50, n_valid=5),
                          train={"max_steps": 1, "valid_every": 1})
        Trainer(cfg, progress=False).train()
        models = {**models, "translator": cfg.model_dir}
    capsys.readouterr()
    assert main(["caption", "--model", str(models["a"]), "--model", str(models[other]), str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err


def test_a_captioner_naming_a_member_in_its_config_is_that_ensemble(models, tmp_path, capsys):
    """search.ensemble in a captioner's config: loaded alone it is the ensemble (API and `caption`), and
    --no-ensemble / ensemble=False captions with it alone; a member that sees other images is refused."""
    from conftest import with_members

    leader = with_members(models["a"], tmp_path, [models["b"]])
    path = tmp_path / "red.png"
    _images(1)[0].save(path)
    ens = Captioner.load(leader, "cpu", beam=2)
    assert ens.model_dirs == [leader, models["b"]]
    assert ens.caption(str(path)) == Captioner.load([models["a"], models["b"]], "cpu", beam=2).caption(str(path))
    alone = Captioner.load(leader, "cpu", beam=2, ensemble=False)
    assert alone.model_dirs == [leader]
    assert alone.caption(str(path)) == Captioner.load(models["a"], "cpu", beam=2).caption(str(path))
    capsys.readouterr()
    for flags, want in (([], ens), (["--no-ensemble"], alone)):
        assert main(["caption", "--model", str(leader), "--beam", "2", *flags, str(path)]) == 0
        assert capsys.readouterr().out == want.caption(str(path)) + "\n"
    with pytest.raises(UserError, match="image_size"):
        Captioner.load(with_members(models["a"], tmp_path / "big", [models["big"]]), "cpu")
