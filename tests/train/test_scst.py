"""Self-critical sequence training (seq2seq.train.scst): the loss's gradient by hand, what contributes nothing to it
(a sample as good as its baseline, padding after </s>, a forced </s>), CIDEr-D with the training set's document
frequencies, the greedy reward rising on a synthetic captioning task, exact resume, and one-line config errors."""

import math
from pathlib import Path

import pytest
import torch

from conftest import caption_config, resumed_and_uninterrupted, shapes_dataset, tiny_config
from seq2seq.errors import UserError
from seq2seq.cli import main
from seq2seq.config import from_dict
from seq2seq.metrics import CiderD, cider_d_items
from seq2seq.train.scst import other_mean, reinforce_loss, sequence_logp
from seq2seq.decode.search import greedy_search, max_lengths
from seq2seq.data.tokenizer import BOS, EOS, PAD
from seq2seq.train.trainer import Trainer

V = 7  # PAD 0, UNK 1, BOS 2, EOS 3, words 4..6


def _scripted(N: int = 3, T: int = 4, seed: int = 0) -> torch.Tensor:
    """A model's teacher-forced logits (N, T, V), as a leaf tensor to differentiate."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, T, V, generator=g, dtype=torch.float64).requires_grad_()


TGT = torch.tensor([[4, 5, EOS, PAD], [6, EOS, PAD, PAD], [4, 4, 6, EOS]])  # samples + </s>, padded


def test_gradient_equals_hand_computation():
    """d/dlogits of -(r - b) * sum_t log p(y_t): -(r - b) * (onehot(y_t) - p_t) at each real step, where p_t is the
    softmax over the columns sampling can draw (not PAD, not BOS); zero after </s>."""
    logits = _scripted()
    r, b = torch.tensor([0.9, 0.2, 0.5]), torch.tensor([0.4, 0.6, 0.5])
    reinforce_loss(sequence_logp(logits, TGT), r, b).backward()
    hand = torch.zeros(3, 4, V, dtype=torch.float64)
    for n in range(3):
        for t in range(4):
            y = int(TGT[n, t])
            if y == PAD:
                continue
            z = logits[n, t].detach().clone()
            z[[PAD, BOS]] = -math.inf
            p = torch.softmax(z, 0)
            onehot = torch.zeros(V, dtype=torch.float64)
            onehot[y] = 1.0
            hand[n, t] = -(float(r[n]) - float(b[n])) * (onehot - p)
    assert torch.allclose(logits.grad, hand, atol=1e-12)
    assert logits.grad[2].abs().max() == 0  # sample 2: reward == baseline


def test_sequence_logp_is_the_sum_of_the_sampled_tokens_log_probs():
    logits = _scripted()
    z = logits.detach().clone()
    z[..., [PAD, BOS]] = -math.inf
    logp = torch.log_softmax(z, -1)
    want = [logp[0, 0, 4] + logp[0, 1, 5] + logp[0, 2, EOS], logp[1, 0, 6] + logp[1, 1, EOS],
            logp[2, 0, 4] + logp[2, 1, 4] + logp[2, 2, 6] + logp[2, 3, EOS]]
    assert torch.allclose(sequence_logp(logits, TGT).detach(), torch.stack(want))


def test_padding_and_forced_eos_contribute_nothing():
    """Whatever the model says after </s> (PAD positions) changes neither the loss nor the gradient; a token forced
    at the length cap (`free`) counts nothing either."""
    a, b = _scripted(), _scripted()
    with torch.no_grad():
        b[TGT != PAD] = a[TGT != PAD]  # same logits at real steps, different ones after </s>
    r, base = torch.tensor([1.0, -2.0, 0.3]), torch.zeros(3)
    la, lb = (reinforce_loss(sequence_logp(x, TGT), r, base) for x in (a, b))
    assert la.item() == lb.item()
    la.backward()
    assert a.grad[TGT == PAD].abs().max() == 0 and a.grad[TGT != PAD].abs().max() > 0
    c = _scripted()
    free = torch.tensor([2, 1, 4])  # samples 0 and 1 hit the cap: their </s> was forced
    reinforce_loss(sequence_logp(c, TGT, free), r, base).backward()
    assert c.grad[0, 2:].abs().max() == 0 and c.grad[1, 1:].abs().max() == 0 and c.grad[0, :2].abs().max() > 0


def test_mean_of_the_other_samples_baseline():
    rewards = torch.tensor([[1.0, 2.0, 6.0], [0.0, 0.0, 3.0]])
    assert other_mean(rewards).tolist() == [[4.0, 3.5, 1.5], [1.5, 1.5, 0.0]]


def test_cider_document_frequencies_come_from_the_given_corpus():
    """An n-gram found in every training image's references weighs nothing, even when a caption is scored against
    one image alone; per-set scoring with the set's own references equals `cider_d_items`."""
    corpus = [["a dog runs", "a dog"], ["a cat sits", "a cat"], ["a bird"]]
    train_df = CiderD(corpus)
    assert train_df.score("a a a", ["a dog runs"]) == 0.0  # "a" is in all 3 training images' references
    assert CiderD([["a dog runs"], ["the cat"]]).score("a a a", ["a dog runs"]) > 0.0
    hyps = ["a dog", "a cat sits", "bird"]
    assert train_df.scores(hyps, corpus) == pytest.approx(cider_d_items(hyps, corpus))


# -- training ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def xent(tmp_path_factory):
    """A captioner trained briefly with cross-entropy: it names shapes, not always right (the starting point)."""
    tmp = tmp_path_factory.mktemp("scst")
    files = shapes_dataset(tmp / "data", n_train=120, n_valid=12)
    cfg = _cfg(tmp / "xent", files, tmp, max_steps=60, valid_every=60)
    Trainer(cfg, progress=False).train()
    return tmp, files, cfg.model_dir


def _cfg(folder, files, tmp, **train):
    cfg = caption_config(folder, files, **train)
    cfg.data.images_dir, cfg.data.feature_cache = str(tmp / "data"), str(tmp / "cache")
    return cfg


def _scst(folder, xent, **train):
    tmp, files, init = xent
    settings = dict(objective="scst", init_from=init, batch_tokens=200, lr=0.003, attn_reg=0.0, log_every=5)
    return _cfg(folder, files, tmp, **{**settings, **train})


def _greedy_reward(trainer: Trainer) -> float:
    """Mean CIDEr-D (training document frequencies) of the greedy captions of all training images."""
    task, model = trainer.task, trainer.model
    model.eval()
    with torch.no_grad():
        enc = model.encode(task.train_feats.float(), torch.ones(len(task.train_paths), dtype=torch.long))
        hyp = greedy_search(model.decoder, enc, max_lengths(torch.ones(enc.memory.size(0)), 0.0, 12))
    return float(trainer.objective.rewards([h[0] for h in hyp.tokens], list(range(len(task.train_paths)))).mean())


def test_scst_raises_the_greedy_reward(xent, tmp_path):
    """40 SCST steps from the cross-entropy model raise the mean CIDEr-D of greedy captions on the training images
    (the reward it optimises), pick best.pt by validation CIDEr-D, and log the rewards."""
    trainer = Trainer(_scst(tmp_path, xent, max_steps=40, valid_every=40), progress=False)
    assert trainer.metric.name == "cider"
    before = _greedy_reward(trainer)
    summary = trainer.train()
    after = _greedy_reward(trainer)
    assert after > before + 0.1, (before, after)
    assert summary["metric"] == "cider" and summary["best_step"] == 40
    import json

    rows = [json.loads(line) for line in (tmp_path / "model" / "log.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["type"] == "train"]
    assert train_rows and all(r["reward"] >= 0 and "greedy_reward" in r for r in train_rows)


def test_mean_baseline_runs(xent, tmp_path):
    trainer = Trainer(_scst(tmp_path, xent, max_steps=2, valid_every=2, scst_baseline="mean", scst_samples=3),
                      progress=False)
    assert trainer.train()["step"] == 2


def test_scst_resume_equals_uninterrupted(xent, tmp_path):
    """Stopping SCST at step 6 and resuming to 12 gives exactly the weights of an uninterrupted 12-step run (the
    samples' random stream is part of last.pt)."""
    pa, pb = resumed_and_uninterrupted(_scst(tmp_path / "a", xent, max_steps=12, valid_every=6),
                                       _scst(tmp_path / "b", xent, max_steps=12, valid_every=6), 6)
    assert pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)


@pytest.mark.parametrize("settings, message", [
    ({"train": {"objective": "scst"}}, "train.objective=scst: for captioning (model.encoder=image) only"),
    ({"train": {"valid_metric": "cider"}}, "train.valid_metric=cider: for captioning"),
    ({"train": {"objective": "rl"}}, "train.objective='rl'; choose one of xent, scst"),
    ({"train": {"scst_baseline": "mean", "scst_samples": 1}}, "scst_baseline=mean needs scst_samples >= 2"),
    ({"train": {"scst_samples": 0}}, "train.scst_samples must be >= 1"),
])
def test_config_errors_are_one_line(tmp_path, settings, message):
    raw = tiny_config(tmp_path).to_dict()
    for section, values in settings.items():
        raw[section].update(values)
    with pytest.raises(UserError, match="invalid config") as e:
        from_dict(raw)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_cli_scst_on_a_translation_model_is_one_error_line(tmp_path, capsys):
    cfg = tiny_config(tmp_path)
    cfg.save(tmp_path / "c.yaml")
    assert main(["train", str(tmp_path / "c.yaml"), "--set", "train.objective=scst"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: invalid config: train.objective=scst: for captioning")


def test_valid_metric_cider_is_cider_d_x100_on_normalized_captions():
    """Two images whose captions share no n-gram, each output equal to its reference once normalized (case,
    punctuation): every cosine is 1, CIDEr-D 10, shown x100; ties in the score are ranked by loss."""
    from seq2seq.train.validation import ValidMetric

    items = [["a dog runs on grass"], ["the red car is parked"]]
    streams = [[r[0] for r in items]]
    m = ValidMetric("cider", streams, say=lambda s: None, items=items)
    assert m.label == "CIDEr-D"
    assert m.scores(["A dog runs on grass .", "The red car is parked"], streams, 1.0)[1] == pytest.approx(1000.0)
    assert m.rank(5.0, 1.0) > m.rank(5.0, 2.0)


def test_recomputed_log_probs_are_those_sampling_drew_with():
    """The teacher-forced pass over sampled captions (eval mode, as SCST runs it) gives each sample the summed
    log-probability that `sampling.sample` drew it with (no length cap reached here). `sample` scores a token by its
    log-probability over the whole vocabulary, but draws it from the columns other than PAD and BOS: the policy's
    log-probability is that score less, at each step, the log of the allowed columns' total probability."""
    from seq2seq.data.batching import pad
    from seq2seq.model import build_model
    from seq2seq.decode.sampling import sample

    cfg = tiny_config(Path("unused"), data={"train_src": "x", "train_tgt": "y"})
    model = build_model(cfg.model, 12, 12).eval()
    src, lengths = torch.randint(4, 12, (6, 5)), torch.full((6,), 5)
    with torch.no_grad():
        enc = model.encode(src, lengths)
        hyp = sample(model.decoder, enc, torch.full((6,), 60))
        seqs = [h[0] for h in hyp.tokens]
        logits, _ = model(src, lengths, pad([[BOS] + s for s in seqs]))
    tgt_out = pad([s + [EOS] for s in seqs])
    allowed = torch.log_softmax(logits, -1)[..., [c for c in range(12) if c not in (PAD, BOS)]].logsumexp(-1)
    want = torch.tensor([s[0] for s in hyp.scores]) - allowed.masked_fill(tgt_out == PAD, 0.0).sum(1)
    assert torch.allclose(sequence_logp(logits, tgt_out), want, atol=1e-4)


def test_divergence_watch_checks_only_finiteness_of_the_scst_loss():
    """SCST's loss has no fixed scale or sign (a sample far better than its baseline gives a large negative
    one): only NaN or inf stop the run, where cross-entropy also stops at 10x uniform guessing."""
    from seq2seq.train.schedule import LossWatch

    xent, scst = LossWatch(3000), LossWatch(3000, finite_only=True)
    assert xent.problem(1000.0) and scst.problem(1000.0) is None and scst.problem(-1000.0) is None
    assert "non-finite" in scst.problem(float("nan")) and "non-finite" in scst.problem(float("inf"))
