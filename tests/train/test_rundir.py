"""The run directory: one trainer at a time (the lock names the holder's PID; a dead holder's lock is taken
over), leftover temporary files removed, no repeated log rows after a resume, write failures as one line."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from seq2seq import files as fileio
from seq2seq.errors import UserError
from seq2seq.train.rundir import LOCK, RunDir
from seq2seq.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]  # the repository
HOLD = "import sys, time; from seq2seq.train.rundir import RunDir; run = RunDir(sys.argv[1]).open(); print('locked', flush=True); " \
       "time.sleep(120)"


def _holder(model_dir: Path) -> subprocess.Popen:
    """Another process that takes the model directory's lock and keeps it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(model_dir)], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline().strip() == "locked"
    return p


def test_second_trainer_is_refused_naming_the_first_pid_and_a_dead_ones_lock_is_taken_over(tmp_path):
    cfg = tiny_config(tmp_path, train={"max_steps": 2, "valid_every": 2})
    holder = _holder(tmp_path / "model")
    try:
        with pytest.raises(UserError) as e:
            Trainer(cfg, progress=False)
        assert f"PID {holder.pid}" in str(e.value) and "in use" in str(e.value)
        assert not (tmp_path / "model" / "last.pt").exists()
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / "model" / LOCK).read_text().strip() == str(holder.pid)  # killed: its lock file stays
    said = []
    run = RunDir(tmp_path / "model", said.append).open()
    assert said and f"PID {holder.pid}" in said[0] and "no longer running" in said[0]
    assert (tmp_path / "model" / LOCK).read_text().strip() == str(os.getpid())
    run.release()
    assert not (tmp_path / "model" / LOCK).exists()


def test_lock_released_after_training_and_on_a_failed_start(tmp_path):
    cfg = tiny_config(tmp_path, train={"max_steps": 2, "valid_every": 2})
    Trainer(cfg, progress=False).train()
    assert not (tmp_path / "model" / LOCK).exists()
    with pytest.raises(UserError, match="already holds"):
        Trainer(cfg, progress=False)
    assert not (tmp_path / "model" / LOCK).exists()


def test_orphan_temporary_files_are_removed_at_start(tmp_path):
    cfg = tiny_config(tmp_path, train={"max_steps": 2, "valid_every": 2})
    Trainer(cfg, progress=False).train()
    orphans = [tmp_path / "model" / n for n in ("last.ptk2j3h1.tmp", "step-4.ptx9.tmp", "spm.tmp")]
    for p in orphans:
        p.write_bytes(b"half a file")
    cfg.train.max_steps = 4
    log = []
    Trainer(cfg, resume=True, progress=False, log_stream=_Lines(log)).train()
    assert not any(p.exists() for p in orphans)
    assert any("3 unfinished temporary file(s)" in line for line in log)


class _Lines:
    def __init__(self, out: list):
        self.out = out

    def write(self, text: str) -> None:
        self.out.extend(line for line in text.splitlines() if line)

    def flush(self) -> None:
        pass


def test_no_repeated_log_rows_after_resume(tmp_path):
    """A run killed after step 13 (last.pt from step 10, rows up to 13, half a row): the resumed run drops the rows
    past 10 and the broken line, so every (type, step) appears once."""
    cfg = tiny_config(tmp_path, train={"max_steps": 10, "valid_every": 10, "log_every": 1})
    Trainer(cfg, progress=False).train()
    log = tmp_path / "model" / "log.jsonl"
    with open(log, "a") as f:
        for step in (11, 12, 13):
            f.write(json.dumps({"type": "train", "step": step, "loss": 9.0}) + "\n")
        f.write('{"type": "train", "st')
    cfg.train.max_steps = 20
    Trainer(cfg, resume=True, progress=False).train()
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    keys = [(r["type"], r["step"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert [r["step"] for r in rows if r["type"] == "train"] == list(range(1, 21))
    assert all(r["loss"] != 9.0 for r in rows)
    assert not list((tmp_path / "model").glob("*.tmp"))


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_write_failure_is_one_line_and_keeps_what_was_saved(tmp_path, monkeypatch, code):
    """A full disk (or a folder that became read-only) at a checkpoint: a UserError naming the file and the reason;
    last.pt from before is intact."""
    cfg = tiny_config(tmp_path, train={"max_steps": 2, "valid_every": 2})
    Trainer(cfg, progress=False).train()
    cfg.train.max_steps = 4
    trainer = Trainer(cfg, resume=True, progress=False)

    def full(obj, f):
        f.write(b"partial")
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(UserError) as e:
        trainer.train()
    assert os.strerror(code) in str(e.value) and str(tmp_path / "model") in str(e.value)
    monkeypatch.undo()
    assert fileio.load(tmp_path / "model" / "last.pt")["step"] == 2
    assert not list((tmp_path / "model").glob("*.tmp")) and not (tmp_path / "model" / LOCK).exists()


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_unwritable_model_dir_at_start(tmp_path, monkeypatch, code):
    cfg = tiny_config(tmp_path)
    real = Path.mkdir

    def mkdir(self, *a, **kw):
        if self == tmp_path / "model":
            raise OSError(code, os.strerror(code), str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    with pytest.raises(UserError, match=os.strerror(code)):
        Trainer(cfg, progress=False)


def test_model_dir_that_is_a_file(tmp_path):
    (tmp_path / "model").write_text("mine")
    with pytest.raises(UserError, match="is a file"):
        Trainer(tiny_config(tmp_path), progress=False)
    assert (tmp_path / "model").read_text() == "mine"


def test_a_signal_forwarded_within_the_grace_period_counts_once(monkeypatch):
    """Under torchrun a Ctrl-C reaches a worker twice (the terminal's, then torchrun's): within `grace` seconds the
    second is the same request; later, a second signal still stops at once."""
    import signal as sig

    from seq2seq.train.rundir import StopSignals

    clock = [100.0]
    monkeypatch.setattr("seq2seq.train.rundir.time.monotonic", lambda: clock[0])
    with StopSignals(lambda m: None, grace=5.0) as s:
        os.kill(os.getpid(), sig.SIGINT)
        clock[0] += 1.0
        os.kill(os.getpid(), sig.SIGINT)  # forwarded: no KeyboardInterrupt
        assert s.received == sig.SIGINT
        clock[0] += 10.0
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig.SIGINT)
    with StopSignals(lambda m: None) as s:  # one process: no grace
        os.kill(os.getpid(), sig.SIGTERM)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig.SIGTERM)
