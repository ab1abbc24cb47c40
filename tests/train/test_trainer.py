"""Trainer: learns a synthetic task, picks best.pt by the task's metric, resumes exactly (also after SIGTERM),
stops on divergence naming a checkpoint that exists, writes checkpoints atomically."""

import errno
import io
import json
import math
import os
import random
import signal
from dataclasses import replace

import pytest
import torch

from conftest import resumed_and_uninterrupted, reverse_files, tiny_config, write_lines
from seq2seq import files as fileio
from seq2seq import modeldir
from seq2seq.errors import UserError
from seq2seq.config import TrainConfig
from seq2seq.data.batching import collate
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.decode.search import greedy_search, max_lengths
from seq2seq.metrics import exact_match
from seq2seq.train.rundir import Interrupted
from seq2seq.train.tasks import TASKS
from seq2seq.train.trainer import LRSchedule, Trainer, TrainingError
from seq2seq.train.validation import ValidMetric
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
    pa, pb = resumed_and_uninterrupted(tiny_config(tmp_path / "a", data=data, **sections),
                                       tiny_config(tmp_path / "b", data=data, **sections), 10)
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
    assert [p.name for p in modeldir.step_checkpoints(d)] == ["step-4.pt", "step-6.pt"]
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
    fileio.save({"x": torch.tensor([1.0])}, path)

    def boom(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        fileio.save({"x": torch.tensor([2.0])}, path)
    monkeypatch.undo()
    assert fileio.load(path)["x"].item() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_full_disk_inside_torch_save_is_an_oserror(tmp_path, monkeypatch):
    """torch.save turns a failed write into RuntimeError("unexpected pos ..."); save raises the write's OSError
    (so the trainer can say "No space left on device") and keeps the old file."""
    path = tmp_path / "ck.pt"
    fileio.save({"x": torch.tensor([1.0])}, path)
    real_fdopen = os.fdopen

    class Full(io.RawIOBase):
        def __init__(self, f):
            self.f, self.room = f, 100

        def write(self, data):
            if len(data) > self.room:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.room -= len(data)
            return self.f.write(data)

        def fileno(self):
            return self.f.fileno()

        def close(self):
            self.f.close()

    monkeypatch.setattr(fileio.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(OSError) as e:
        fileio.save({"x": torch.zeros(10_000)}, path)
    assert e.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert fileio.load(path)["x"].item() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_average_is_elementwise_mean(tmp_path):
    for i, v in enumerate((1.0, 2.0, 6.0)):
        fileio.save({"model": {"w": torch.full((2,), v), "n": torch.tensor(7)}}, tmp_path / f"step-{i}.pt")
    avg = modeldir.average(modeldir.step_checkpoints(tmp_path))
    assert torch.equal(avg["w"], torch.full((2,), 3.0)) and avg["n"].item() == 7


def test_time_budget_stops_validates_and_carries_over_resume(tmp_path, monkeypatch):
    """train.max_minutes ends training with a validation and a checkpoint; --resume keeps the time spent."""
    clock = [0.0]
    monkeypatch.setattr("seq2seq.train.trainer.time.perf_counter", lambda: clock[0])
    cfg = tiny_config(tmp_path, train={"max_steps": 1000, "valid_every": 1000, "max_minutes": 1.0})
    trainer = Trainer(cfg, progress=False)
    real_step = trainer.train_step

    def step(*args, **kw):  # every step "takes" 25 seconds: the budget runs out at step 3
        clock[0] += 25.0
        return real_step(*args, **kw)

    trainer.train_step = step
    summary = trainer.train()
    assert summary["step"] == 3 and summary["minutes"] == pytest.approx(75 / 60)
    log = [json.loads(line) for line in open(tmp_path / "model" / "log.jsonl")]
    assert [r["step"] for r in log if r["type"] == "valid"] == [3]
    cfg.train.max_minutes = 2.0  # 45 more seconds: two more steps
    resumed = Trainer(cfg, resume=True, progress=False)
    assert resumed.elapsed == pytest.approx(75.0)
    resumed.train_step = lambda *a, real=resumed.train_step, **kw: (clock.__setitem__(0, clock[0] + 25), real(*a, **kw))[1]
    assert resumed.train()["step"] == 5


# -- the validation metric ------------------------------------------------------------------------------------
WORDS = "zero one two three four five six seven eight nine".split()


def _digit_word_files(folder, n_train=2000, n_valid=100) -> dict:
    """Numbers spelled digit by digit -> the number ("five four four one six" -> "54416"): every output is one
    token, so validation BLEU (4-gram) is 0 whatever the model outputs."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n, seed in (("train", n_train, 1), ("valid", n_valid, 2)):
        r = random.Random(seed)
        nums = ["".join(r.choice("0123456789") for _ in range(r.randint(1, 4))) for _ in range(n)]
        files[f"{split}_src"] = write_lines(folder / f"{split}.src", [" ".join(WORDS[int(c)] for c in x) for x in nums])
        files[f"{split}_tgt"] = write_lines(folder / f"{split}.tgt", nums)
    return files


def _exact(trainer, weights) -> float:
    """Sentence accuracy of `weights` on the validation set, decoded greedily."""
    trainer.model.load_state_dict(weights)
    hyps = trainer.task.decode_valid(trainer.model, replace(trainer.cfg.search, beam=1), trainer.device)
    return exact_match(hyps, trainer.task.valid_refs)


def test_best_checkpoint_follows_exact_match_on_single_token_outputs(tmp_path):
    """Issue 11: with BLEU 0 at every validation, best.pt stayed the first validation's weights. With the default
    valid_metric (auto -> exact), best.pt holds the weights of the best validation exact match, which is at
    least that of the final weights, and the log, best.pt and the summary say which metric picked it."""
    said = io.StringIO()
    cfg = tiny_config(tmp_path, data=_digit_word_files(tmp_path / "data"),
                      model={"attention": "general"},
                      train={"max_steps": 300, "valid_every": 50, "log_every": 50, "batch_tokens": 400, "lr": 0.01,
                             "early_stopping": 0})
    cfg.data.vocab_size, cfg.data.max_ratio = 64, 10.0
    trainer = Trainer(cfg, progress=False, log_stream=said)
    summary = trainer.train()
    assert "validation metric: exact" in said.getvalue()
    valid = [json.loads(line) for line in open(tmp_path / "model" / "log.jsonl")]
    valid = [r for r in valid if r["type"] == "valid"]
    assert [r["metric"] for r in valid] == ["exact"] * 6
    assert all(r["bleu"] == 0.0 for r in valid)  # what picked best.pt before: it never improved
    best_row = max(valid, key=lambda r: (r["score"], -r["loss"]))
    assert valid[-1]["best_score"] == best_row["score"] and valid[-1]["best_step"] == best_row["step"]
    assert summary["metric"] == "exact" and summary["best_step"] == best_row["step"]
    final = _params(trainer.model)
    best = fileio.load(tmp_path / "model" / "best.pt")
    assert best["metric"] == "exact" and best["step"] == best_row["step"]
    best_exact, final_exact = _exact(trainer, best["model"]), _exact(trainer, final)
    assert best_exact == best_row["score"] >= final_exact
    assert best_exact >= 40.0 and best_row["step"] > valid[0]["step"]


def test_loss_metric_early_stopping_and_plateau(tmp_path):
    """valid_metric=loss: lower is better; lr so small that the loss cannot move: early stopping after 2."""
    cfg = tiny_config(tmp_path, train={"max_steps": 1000, "valid_every": 2, "lr": 1e-9, "early_stopping": 2,
                                       "valid_metric": "loss", "schedule": "plateau", "decay_patience": 0,
                                       "min_lr": 1e-10})
    summary = Trainer(cfg, progress=False).train()
    assert summary["step"] == 6 and summary["metric"] == "loss" and summary["best_step"] == 2
    rows = [json.loads(line) for line in open(tmp_path / "model" / "log.jsonl")]
    valid = [r for r in rows if r["type"] == "valid"]
    assert all(r["score"] == r["loss"] for r in valid) and valid[-1]["best_score"] == valid[0]["loss"]
    assert valid[-1]["lr"] < valid[0]["lr"]  # the plateau schedule decayed on the loss


def test_resume_keeps_the_runs_metric(tmp_path):
    cfg = tiny_config(tmp_path, train={"max_steps": 4, "valid_every": 2, "valid_metric": "chrf"})
    Trainer(cfg, progress=False).train()
    cfg.train.max_steps, cfg.train.valid_metric = 6, "exact"
    with pytest.raises(UserError, match="chrf"):
        Trainer(cfg, resume=True, progress=False)
    cfg.train.valid_metric = "auto"
    resumed = Trainer(cfg, resume=True, progress=False)
    assert resumed.metric.name == "chrf" and resumed.train()["metric"] == "chrf"


# -- interruption, divergence ---------------------------------------------------------------------------------
def _send_sigterm_at(trainer, step: int) -> None:
    real = trainer.train_step

    def train_step(*args, **kw):
        out = real(*args, **kw)
        if trainer.step == step:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    trainer.train_step = train_step


def _rows(model_dir):
    """The log's rows without the wall-clock fields."""
    rows = [json.loads(line) for line in open(model_dir / "log.jsonl")]
    return [{k: v for k, v in r.items() if k not in ("time", "tok_s")} for r in rows]


def test_sigterm_saves_last_and_resume_is_exact(tmp_path):
    """SIGTERM mid-epoch, between validations: the step in progress finishes, last.pt is saved there, and the
    resumed run ends with exactly the weights and log rows of an uninterrupted one."""
    data = reverse_files(tmp_path / "data", n_train=400, n_valid=20)
    sections = dict(model={"dropout": 0.3, "emb_dropout": 0.2, "cell": "lstm"},
                    train={"max_steps": 20, "valid_every": 10, "log_every": 4, "batch_tokens": 300})
    full = Trainer(tiny_config(tmp_path / "a", data=data, **sections), progress=False)
    full.train()
    cfg = tiny_config(tmp_path / "b", data=data, **sections)
    cut = Trainer(cfg, progress=False)
    _send_sigterm_at(cut, 13)
    with pytest.raises(Interrupted) as e:
        cut.train()
    assert e.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone again
    assert fileio.load(tmp_path / "b" / "model" / "last.pt")["step"] == 13
    resumed = Trainer(cfg, resume=True, progress=False)
    assert resumed.step == 13
    resumed.train()
    pa, pb = _params(full.model), _params(resumed.model)
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert _rows(tmp_path / "a" / "model") == _rows(tmp_path / "b" / "model")


def test_divergence_names_the_checkpoint_that_exists(tmp_path):
    cfg = tiny_config(tmp_path, train={"max_steps": 10, "valid_every": 10})
    Trainer(cfg, progress=False).train()
    cfg.train.max_steps, cfg.train.lr, cfg.train.clip_norm = 40, 1e4, 0.0
    with pytest.raises(TrainingError) as e:
        Trainer(cfg, resume=True, progress=False).train()
    msg = str(e.value)
    assert "diverged" in msg and f"{tmp_path / 'model' / 'last.pt'} (step 10)" in msg and "--resume" in msg
    assert fileio.load(tmp_path / "model" / "last.pt")["step"] == 10


def test_non_finite_loss_before_any_checkpoint_names_none(tmp_path):
    cfg = tiny_config(tmp_path, train={"max_steps": 4, "valid_every": 2})
    trainer = Trainer(cfg, progress=False)
    with torch.no_grad():
        next(trainer.model.decoder.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingError) as e:
        trainer.train()
    msg = str(e.value)
    assert "non-finite" in msg and "holds no last.pt" in msg and "last good checkpoint is" not in msg
    assert not (tmp_path / "model" / "last.pt").exists() and not (tmp_path / "model" / "train.lock").exists()


def test_resume_from_a_last_pt_written_before_valid_metric(tmp_path):
    """Older last.pt files (best_bleu and a float schedule best, no metric) resume as BLEU runs."""
    cfg = tiny_config(tmp_path, train={"max_steps": 2, "valid_every": 2})
    Trainer(cfg, progress=False).train()
    path = tmp_path / "model" / "last.pt"
    state = fileio.load(path)
    for key in ("metric", "best", "watch", "meter"):
        del state[key]
    state["best_bleu"], state["schedule"]["best"] = 3.5, 3.5
    fileio.save(state, path)
    cfg.train.max_steps = 4
    resumed = Trainer(cfg, resume=True, progress=False)
    assert resumed.metric.name == "bleu" and resumed.best.score == 3.5 and resumed.schedule.best == (3.5, -math.inf)
    assert resumed.train()["step"] == 4


def test_accumulated_batches_make_the_update_of_their_union(tmp_path):
    """train_step on two micro-batches (gradients summed, each loss divided by both batches' target tokens) gives
    the update of one batch holding both: the same loss and, to float tolerance, the same weights."""
    cfg = tiny_config(tmp_path / "a", data=reverse_files(tmp_path / "data", n_train=200, n_valid=10))
    a = Trainer(cfg, progress=False)
    torch.manual_seed(5)
    b = Trainer(tiny_config(tmp_path / "b", data=reverse_files(tmp_path / "data", n_train=200, n_valid=10)),
                progress=False)
    b.model.load_state_dict(a.model.state_dict())
    first, second = list(range(0, 7)), list(range(7, 20))
    rows = lambda idx: ([a.task.src[i] for i in idx], [a.task.tgt[i] for i in idx])  # noqa: E731
    loss_a, _ = a.train_step([a.task.batch(first), a.task.batch(second)])
    loss_b, _ = b.train_step(collate(*(x + y for x, y in zip(rows(first), rows(second)))))
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    for (name, pa), pb in zip(a.model.named_parameters(), b.model.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6), name
    a.run.release()
    b.run.release()


# -- a task of its own ------------------------------------------------------------------------------------------
class CopyTask:
    """A task the Trainer has never heard of (seq2seq.train.tasks.Task): copy strings of letters; validation copies
    20 more greedily, and its `auto` metric is exact match."""

    shows_bleu = False

    def __init__(self, cfg, model_dir, log=print, dist=None):
        r = random.Random(0)
        strings = [" ".join(r.choice("abcdef") for _ in range(r.randint(2, 5))) for _ in range(320)]
        self.src_tok = self.tgt_tok = Tokenizer.train(strings, model_dir / "spm.model", 12, "char")
        self.train, self.valid = self.src_tok.encode(strings[:300]), self.src_tok.encode(strings[300:])
        self.valid_refs = [strings[300:]]

    def attach(self, model, device) -> None:
        pass

    def lengths(self):
        n = [len(s) for s in self.train]
        return n, n

    def batch(self, idx):
        return collate([self.train[i] for i in idx], [self.train[i] for i in idx])

    def valid_batches(self, batch_tokens: int):
        yield collate(self.valid, self.valid)

    def valid_metric(self, requested: str, say) -> ValidMetric:
        return ValidMetric("exact" if requested == "auto" else requested, self.valid_refs, say)

    def decode_valid(self, model, search, device, part: slice = slice(None)) -> list[str]:
        b = collate(self.valid[part])
        enc = model.encode(b.src.to(device), b.src_lengths.to(device))
        hyp = greedy_search(model.decoder, enc, max_lengths(b.src_lengths, 1.0, 2).to(device))
        return self.tgt_tok.decode([h[0] for h in hyp.tokens])


def test_trains_a_task_it_does_not_know(tmp_path, monkeypatch):
    """Any object with the Task protocol's parts trains: the Trainer asks the task, never its kind, for the examples,
    the metric (here exact match) and whether validation lines name BLEU (here not)."""
    monkeypatch.setitem(TASKS, "translate", CopyTask)
    cfg = tiny_config(tmp_path, train={"max_steps": 60, "valid_every": 20, "batch_tokens": 300, "lr": 0.01})
    said = io.StringIO()
    summary = Trainer(cfg, progress=False, log_stream=said).train()
    assert summary["step"] == 60 and summary["metric"] == "exact" and summary["best_step"] is not None
    valid = [json.loads(line) for line in open(tmp_path / "model" / "log.jsonl") if '"valid"' in line]
    assert [r["step"] for r in valid] == [20, 40, 60] and valid[-1]["loss"] < valid[0]["loss"]
    lines = [s for s in said.getvalue().splitlines() if "valid loss" in s]
    assert len(lines) == 3 and not any("BLEU" in s for s in lines)
