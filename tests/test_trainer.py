"""Trainer: learns a synthetic task, resumes exactly, stops on NaN, writes checkpoints atomically."""

import json
import math

import pytest
import torch

from conftest import reverse_files, tiny_config
from seq2seq import UserError, checkpoint
from seq2seq.config import TrainConfig
from seq2seq.trainer import LRSchedule, Trainer, TrainingError
from seq2seq.translate import Translator


def test_learns_digit_reversal(tmp_path):
    """An attention GRU learns to reverse digit strings: >= 95% exact match on held-out strings."""
    data = reverse_files(tmp_path / "data", n_train=3000, n_valid=200, min_len=2, max_len=7)
    cfg = tiny_config(tmp_path, data=data,
                      model={"emb_dim": 32, "hidden": 64, "attention": "general", "input_feeding": True},
                      train={"max_steps": 700, "valid_every": 350, "batch_tokens": 1200, "lr": 0.005,
                             "log_every": 100})
    summary = Trainer(cfg, progress=False).train()
    tr = Translator.load(cfg.model_dir, device="cpu", beam=1)
    src = open(data["valid_src"]).read().splitlines()
    ref = open(data["valid_tgt"]).read().splitlines()
    hyps = tr.translate(src)
    exact = sum(h == r for h, r in zip(hyps, ref)) / len(ref)
    assert exact >= 0.95, f"exact match {exact:.2%} after {summary['step']} steps"
    log = [json.loads(line) for line in open(tmp_path / "model" / "log.jsonl")]
    assert {r["type"] for r in log} == {"train", "valid"}
    assert all(math.isfinite(r["loss"]) for r in log)


def _params(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_equals_uninterrupted(tmp_path):
    """Stopping at step 10 and resuming to 20 gives exactly the weights of an uninterrupted 20-step run."""
    data = reverse_files(tmp_path / "data", n_train=400, n_valid=20)
    sections = dict(model={"dropout": 0.3, "emb_dropout": 0.2, "cell": "lstm"},
                    train={"max_steps": 20, "valid_every": 10, "batch_tokens": 300})
    a = tiny_config(tmp_path / "a", data=data, **sections)
    full = Trainer(a, progress=False)
    full.train()
    b = tiny_config(tmp_path / "b", data=data, **sections)
    b.train.max_steps = 10
    Trainer(b, progress=False).train()
    b.train.max_steps = 20
    resumed = Trainer(b, resume=True, progress=False)
    assert resumed.step == 10
    resumed.train()
    pa, pb = _params(full.model), _params(resumed.model)
    assert pa.keys() == pb.keys()
    for k in pa:
        assert torch.equal(pa[k], pb[k]), k


def test_refuses_to_overwrite_or_resume_nothing(tmp_path):
    cfg = tiny_config(tmp_path, train={"max_steps": 2, "valid_every": 2})
    with pytest.raises(UserError, match="resume"):
        Trainer(cfg, resume=True, progress=False)
    Trainer(cfg, progress=False).train()
    with pytest.raises(UserError, match="already holds"):
        Trainer(cfg, progress=False)


def test_nan_loss_stops_training(tmp_path):
    cfg = tiny_config(tmp_path, train={"max_steps": 4, "valid_every": 2})
    trainer = Trainer(cfg, progress=False)
    with torch.no_grad():
        next(trainer.model.decoder.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingError, match="non-finite"):
        trainer.train()


def test_early_stopping_and_checkpoints(tmp_path):
    """lr so small that BLEU cannot improve: training stops after `early_stopping` validations."""
    cfg = tiny_config(tmp_path, train={"max_steps": 1000, "valid_every": 2, "lr": 1e-9, "early_stopping": 2,
                                       "keep_last": 2})
    summary = Trainer(cfg, progress=False).train()
    assert summary["step"] == 6  # first validation sets the best, two more without improvement
    d = tmp_path / "model"
    assert [p.name for p in checkpoint.step_checkpoints(d)] == ["step-4.pt", "step-6.pt"]
    assert (d / "best.pt").is_file() and (d / "last.pt").is_file() and (d / "config.yaml").is_file()


def test_lr_schedule_hand_computed():
    c = TrainConfig(lr=1.0, warmup_steps=4, schedule="inverse_sqrt")
    s = LRSchedule(c)
    assert [s.lr(i) for i in (1, 2, 4, 16)] == pytest.approx([0.25, 0.5, 1.0, 0.5])
    p = LRSchedule(TrainConfig(lr=1.0, schedule="plateau", decay_factor=0.5, decay_patience=1, min_lr=0.2))
    for bleu in (10, 9, 9):  # best, then two validations without improvement > patience 1
        p.on_validation(bleu)
    assert p.lr(100) == 0.5
    for bleu in (8, 8, 8, 8):
        p.on_validation(bleu)
    assert p.lr(100) == 0.2  # floor


def test_atomic_save_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    checkpoint.save({"x": torch.tensor([1.0])}, path)

    def boom(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        checkpoint.save({"x": torch.tensor([2.0])}, path)
    monkeypatch.undo()
    assert checkpoint.load(path)["x"].item() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_average_is_elementwise_mean(tmp_path):
    for i, v in enumerate((1.0, 2.0, 6.0)):
        checkpoint.save({"model": {"w": torch.full((2,), v), "n": torch.tensor(7)}}, tmp_path / f"step-{i}.pt")
    avg = checkpoint.average(checkpoint.step_checkpoints(tmp_path))
    assert torch.equal(avg["w"], torch.full((2,), 3.0)) and avg["n"].item() == 7


def test_time_budget_stops_validates_and_carries_over_resume(tmp_path, monkeypatch):
    """train.max_minutes ends training with a validation and a checkpoint; --resume keeps the time spent."""
    clock = [0.0]
    monkeypatch.setattr("seq2seq.trainer.time.perf_counter", lambda: clock[0])
    cfg = tiny_config(tmp_path, train={"max_steps": 1000, "valid_every": 1000, "max_minutes": 1.0})
    trainer = Trainer(cfg, progress=False)
    real_step = trainer.train_step

    def step(batch):  # every step "takes" 25 seconds: the budget runs out at step 3
        clock[0] += 25.0
        return real_step(batch)

    trainer.train_step = step
    summary = trainer.train()
    assert summary["step"] == 3 and summary["minutes"] == pytest.approx(75 / 60)
    log = [json.loads(line) for line in open(tmp_path / "model" / "log.jsonl")]
    assert [r["step"] for r in log if r["type"] == "valid"] == [3]
    cfg.train.max_minutes = 2.0  # 45 more seconds: two more steps
    resumed = Trainer(cfg, resume=True, progress=False)
    assert resumed.elapsed == pytest.approx(75.0)
    resumed.train_step = lambda batch, real=resumed.train_step: (clock.__setitem__(0, clock[0] + 25.0), real(batch))[1]
    assert resumed.train()["step"] == 5
