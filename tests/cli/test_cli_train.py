"""`seq2seq train` and `export` on bad input and faults, in-process through `cli.main`: one `error:` line and exit
code 2, never a traceback; SIGTERM saves last.pt and exits 143; a diverging run does not exit 0."""

from __future__ import annotations

import errno
import json
import os
import signal
from pathlib import Path

import pytest
import torch
import yaml

from conftest import tiny_config
from seq2seq import files as fileio
from seq2seq.cli import main
from seq2seq.train.trainer import Trainer


def _config_file(tmp_path: Path, **train) -> Path:
    cfg = tiny_config(tmp_path, train={"max_steps": 4, "valid_every": 2, **train})
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


def _run(capsys, argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _error_line(rc: int, err: str, only: bool = True) -> str:
    """Exit code 2, no traceback, and the error as the last stderr line (the only one when `only`)."""
    assert rc == 2 and "Traceback" not in err
    lines = err.rstrip("\n").split("\n")
    assert lines[-1].startswith("error:"), err
    if only:
        assert len(lines) == 1, err
    return lines[-1]


@pytest.mark.parametrize("override,words", [
    ("train.lr=inf", "finite"), ("train.lr=.nan", "finite"), ("train.min_lr=-.inf", "finite"),
    ("train.betas=[0.9, .inf]", "finite"), ("model_dir=[a,b]", "folder path"), ("model_dir={}", "folder path"),
    ("model_dir=", "folder path"), ("data.train_src=[a]", "string"), ("train.valid_metric=bleu4", "valid_metric"),
])
def test_bad_values_are_one_error_line(capsys, tmp_path, monkeypatch, override, words):
    monkeypatch.chdir(tmp_path)
    rc, out, err = _run(capsys, ["train", _config_file(tmp_path), "--set", override])
    assert words in _error_line(rc, err) and out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml", "data"]  # no "['a', 'b']" folder


def test_config_file_not_utf8(capsys, tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("model_dir: caf\xe9\n".encode("latin-1"))
    line = _error_line(*_run(capsys, ["train", path])[::2])
    assert "UTF-8" in line and str(path) in line


def test_model_dir_is_a_file(capsys, tmp_path):
    (tmp_path / "model").write_text("keep me")
    line = _error_line(*_run(capsys, ["train", _config_file(tmp_path)])[::2])
    assert "is a file" in line and (tmp_path / "model").read_text() == "keep me"


def test_empty_data_file_is_called_empty(capsys, tmp_path):
    cfg = _config_file(tmp_path)
    (tmp_path / "empty.txt").write_text("")
    line = _error_line(*_run(capsys, ["train", cfg, "--set", f"data.train_src={tmp_path / 'empty.txt'}"])[::2],
                       only=False)
    assert "empty" in line and "UTF-8" not in line


def test_full_disk_during_training(capsys, tmp_path, monkeypatch):
    """ENOSPC at the step-4 checkpoints: one error line naming the file and the reason; step 2's last.pt stays."""
    cfg = _config_file(tmp_path)
    real = torch.save

    def save(obj, f):
        if isinstance(obj, dict) and obj.get("step") == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(obj, f)

    monkeypatch.setattr(torch, "save", save)
    line = _error_line(*_run(capsys, ["train", cfg])[::2], only=False)
    assert "No space left on device" in line and str(tmp_path / "model") in line
    monkeypatch.undo()
    assert fileio.load(tmp_path / "model" / "last.pt")["step"] == 2


def test_sigterm_saves_last_and_exits_143(capsys, tmp_path, monkeypatch):
    cfg = _config_file(tmp_path, max_steps=20, valid_every=10)
    real = Trainer.train_step

    def train_step(self, *args, **kw):
        out = real(self, *args, **kw)
        if self.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(Trainer, "train_step", train_step)
    rc, out, err = _run(capsys, ["train", cfg])
    assert rc == 128 + signal.SIGTERM and out == "" and "Traceback" not in err
    assert "saved" in err.splitlines()[-1] and "--resume" in err.splitlines()[-1]
    assert fileio.load(tmp_path / "model" / "last.pt")["step"] == 3


def test_diverging_run_does_not_exit_0(capsys, tmp_path):
    rc, out, err = _run(capsys, ["train", _config_file(tmp_path, lr=1e4, clip_norm=0.0, max_steps=40,
                                                       valid_every=40)])
    line = _error_line(rc, err, only=False)
    assert "diverged" in line and out == ""


def test_summary_names_the_metric(capsys, tmp_path):
    rc, out, err = _run(capsys, ["train", _config_file(tmp_path, valid_metric="chrf")])
    summary = json.loads(out.strip().splitlines()[-1])
    assert rc == 0 and summary["metric"] == "chrf" and summary["best_step"] in (2, 4)
    assert "picked by validation chrF" in err


def test_export_refuses_a_file_or_the_model_itself(capsys, tmp_path):
    cfg = tiny_config(tmp_path, train={"max_steps": 2, "valid_every": 2})
    Trainer(cfg, progress=False).train()
    capsys.readouterr()
    (tmp_path / "out.pt").write_text("keep me")
    line = _error_line(*_run(capsys, ["export", "--model", tmp_path / "model", "--out", tmp_path / "out.pt"])[::2])
    assert "existing file" in line and (tmp_path / "out.pt").read_text() == "keep me"
    line = _error_line(*_run(capsys, ["export", "--model", tmp_path / "model", "--out", tmp_path / "model"])[::2])
    assert "model directory itself" in line
