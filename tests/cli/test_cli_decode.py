"""translate / evaluate / caption as a user runs them: a filter that streams, progress only where asked, the
checkpoint to decode with, and bad input (paths, bytes, numbers) as one `error:` line before any slow work."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import data_files, tiny_config
from seq2seq.cli import main
from seq2seq.cli.decode import _stdin_chunks
from seq2seq.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]  # the repository


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cli-decode")
    cfg = tiny_config(tmp, train={"max_steps": 30, "valid_every": 10, "keep_last": 3})
    Trainer(cfg, progress=False).train()
    return Path(cfg.model_dir)


def _run(capsys, argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _one_error(rc: int, err: str) -> str:
    assert rc == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def test_translate_streams_its_first_lines_before_the_input_ends(model):
    """A pipe that sends one line and waits gets that line's translation while stdin is still open."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "seq2seq", "translate", "--model", str(model), "--device", "cpu"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    try:
        proc.stdin.write(b"1 2 3\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 60)  # (reading all stdin first would never answer)
        assert ready, "no output while the input is still open"
        first = proc.stdout.readline()
        assert first.endswith(b"\n")
        assert proc.poll() is None  # still running: the input has not ended
        proc.stdin.write(b"4 5\n\n")
        proc.stdin.close()
        rest = proc.stdout.read().splitlines()
        assert proc.wait(timeout=60) == 0
        assert len(rest) == 2 and rest[1] == b""
    finally:
        proc.kill()


def test_stdin_chunks_are_bounded_and_keep_order():
    data = b"".join(f"line {i}\r\n".encode() for i in range(2500)) + b"last, no newline \xff"
    chunks = list(_stdin_chunks(io.BytesIO(data), max_lines=1000))
    assert [len(c) for c in chunks] == [1000, 1000, 501]
    flat = [line for c in chunks for line in c]
    assert flat[:2] == ["line 0", "line 1"] and flat[-1] == "last, no newline \ufffd"


def test_stdin_chunk_ends_when_the_input_pauses():
    r, w = os.pipe()
    os.write(w, b"a\nb\n")
    reader = os.fdopen(r, "rb")
    chunks = _stdin_chunks(reader, max_lines=100, pause_s=0.05)
    t0 = time.perf_counter()
    assert next(chunks) == ["a", "b"]  # without waiting for 100 lines or the end of the input
    assert time.perf_counter() - t0 < 5
    os.write(w, b"c\n")
    os.close(w)
    assert list(chunks) == [["c"]]


def test_progress_bar_only_when_asked(capsys, model):
    rc, out, err = _run(capsys, ["translate", "--model", model, "1 2", "3 4"])
    assert rc == 0 and err == ""  # not a terminal: no bar
    rc, out, err = _run(capsys, ["translate", "--model", model, "--progress", "1 2", "3 4"])
    assert rc == 0 and "translating" in err and "2/2" in err
    assert len(out.splitlines()) == 2  # stdout keeps only the translations


@pytest.mark.parametrize("which", ["best", "last", "average"])
def test_checkpoint_choice(capsys, model, which):
    rc, out, err = _run(capsys, ["translate", "--model", model, "--checkpoint", which, "1 2 3"])
    assert rc == 0 and len(out.splitlines()) == 1


def test_checkpoint_missing_is_one_error_line(capsys, model, tmp_path):
    from seq2seq.train.export import export

    shipped = export(model, tmp_path / "exported")  # model.pt only, no training checkpoints
    line = _one_error(*_run(capsys, ["translate", "--model", shipped, "--checkpoint", "last", "1 2"])[::2])
    assert "last.pt does not exist" in line
    line = _one_error(*_run(capsys, ["translate", "--model", shipped, "--checkpoint", "average", "1 2"])[::2])
    assert "no step-N.pt" in line


def test_checkpoint_average_is_the_mean_of_the_steps(model):
    import torch

    from seq2seq.files import load
    from seq2seq.modeldir import model_weights, step_checkpoints, weights

    steps = [model_weights(load(p)) for p in step_checkpoints(model)]
    assert len(steps) == 3
    avg = weights(model, "average")
    key = next(k for k, v in avg.items() if v.is_floating_point())
    assert torch.allclose(avg[key], sum(s[key] for s in steps) / 3)


def test_invalid_utf8_argument(capsys, model):
    bad = b"1 2 \xff".decode("utf-8", errors="surrogateescape")  # what Python makes of such argv bytes
    line = _one_error(*_run(capsys, ["translate", "--model", model, "1 2", bad])[::2])
    assert "argument 2 is not valid UTF-8" in line


@pytest.mark.parametrize("alpha", ["1e308", "nan", "-1"])
def test_alpha_out_of_range(capsys, model, alpha):
    line = _one_error(*_run(capsys, ["translate", "--model", model, "--alpha", alpha, "1 2"])[::2])
    assert "alpha" in line


def test_evaluate_bad_output_path_fails_before_decoding(capsys, model, tmp_path, monkeypatch):
    src = tmp_path / "src.txt"
    src.write_text("1 2\n3 4\n")
    import seq2seq.translate

    def boom(*a, **k):
        raise AssertionError("decoded before checking --output")

    monkeypatch.setattr(seq2seq.translate.Translator, "generate", boom)
    for out, why in ((tmp_path / "no" / "such" / "dir" / "hyp.txt", "does not exist"), (tmp_path, "is a folder")):
        line = _one_error(*_run(capsys, ["evaluate", "--model", model, "--src", src, "--ref", src,
                                         "--output", out])[::2])
        assert why in line


def test_an_ensemble_of_the_same_model_twice_translates_as_it(capsys, model):
    rc, one, _ = _run(capsys, ["translate", "--model", model, "1 2 3", "4 5 6 7"])
    rc2, two, _ = _run(capsys, ["translate", "--model", model, "--model", model, "1 2 3", "4 5 6 7"])
    assert rc == rc2 == 0 and one == two


def test_an_ensemble_of_different_vocabularies_is_refused(capsys, model, tmp_path):
    other = tmp_path / "other"
    cfg = tiny_config(tmp_path, data=data_files(model), train={"max_steps": 1, "valid_every": 1})
    cfg.model_dir, cfg.data.spm_type = str(other), "word"  # another sentencepiece model
    Trainer(cfg, progress=False).train()
    capsys.readouterr()  # the training's own lines
    line = _one_error(*_run(capsys, ["translate", "--model", model, "--model", other, "1 2"])[::2])
    assert "different vocabularies" in line


def test_no_repeat_ngram_from_the_command_line(capsys, model):
    """--no-repeat-ngram 1: no output repeats a piece; a negative N is one error line."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=str(model / "spm.model"))
    rc, out, _ = _run(capsys, ["translate", "--model", model, "--no-repeat-ngram", "1", "--beam", "3",
                               "1 1 2 2 3 3", "4 5 6 7 8 9"])
    assert rc == 0
    for line in out.splitlines():
        pieces = sp.encode(line)
        assert len(pieces) == len(set(pieces)), line
    line = _one_error(*_run(capsys, ["translate", "--model", model, "--no-repeat-ngram", "-1", "1 2"])[::2])
    assert "no_repeat_ngram" in line
