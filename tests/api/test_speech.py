"""Speech end to end on a synthetic task (tone bursts of three pitches -> their symbols): trained in seconds by the
one trainer with joint CTC-attention, then transcribed through the public API in every decoding mode, from a
path, wav bytes and a sample array; bad audio is one clear error."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from conftest import tone_dataset
from seq2seq.config import from_dict
from seq2seq.data.corpus import read_tsv
from seq2seq.errors import UserError
from seq2seq.metrics import error_rates
from seq2seq.train.trainer import Trainer
from seq2seq.transcribe import Transcriber


@pytest.fixture(scope="module")
def tones(tmp_path_factory):
    """A speech model trained on the tone task, and its validation utterances (paths, transcripts)."""
    tmp = tmp_path_factory.mktemp("tones")
    files = tone_dataset(tmp / "data", n_train=300, n_valid=30)
    cfg = from_dict({
        "model_dir": str(tmp / "model"),
        "data": {**files, "spm_type": "char", "vocab_size": 16, "max_len": 20, "cache_dir": None},
        "model": {"encoder": "audio", "cell": "lstm", "emb_dim": 16, "hidden": 64, "enc_layers": 2, "reductions": 1,
                  "dec_layers": 1, "dropout": 0.0, "emb_dropout": 0.0, "attention": "bahdanau"},
        "train": {"batch_tokens": 3000, "lr": 0.006, "schedule": "constant", "label_smoothing": 0.0,
                  "ctc_weight": 0.3, "max_steps": 500, "valid_every": 100, "log_every": 100},
        "search": {"beam": 3, "alpha": 0.0, "max_len_ratio": 0.1, "max_len_offset": 10}})
    summary = Trainer(cfg, progress=False).train()
    audio, refs = read_tsv(files["valid"])
    return tmp / "model", [str(tmp / "data" / a) for a in audio], refs, summary


@pytest.mark.slow
def test_the_tone_task_is_learned(tones):
    model_dir, paths, refs, summary = tones
    assert summary["metric"] == "wer" and summary["best_score"] < 30
    tr = Transcriber.load(model_dir, "cpu")
    wer = {w: error_rates(tr.transcribe(paths, ctc_weight=w), refs)["wer"].score for w in (0.0, 0.5, 1.0)}
    assert wer[1.0] <= 10 and wer[0.5] <= 15, wer  # CTC alone and joint decoding


@pytest.mark.slow
def test_every_way_in_gives_the_same_words(tones):
    model_dir, paths, refs, _ = tones
    tr = Transcriber.load(model_dir, "cpu", ctc_weight=1.0)
    with wave.open(paths[0], "rb") as w:
        rate, samples = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
    from_path = tr.transcribe(paths[0])
    assert tr.transcribe(open(paths[0], "rb").read()) == from_path
    assert tr.transcribe(samples, sample_rate=rate) == from_path
    assert tr.transcribe(samples.astype(np.float32) / 32768, sample_rate=rate) == from_path
    assert tr.transcribe(paths[:5], batch_size=2) == [tr.transcribe(p) for p in paths[:5]]  # batching changes nothing
    res = tr.generate([paths[0]], ctc_weight=0.0, return_attention=True)[0]
    assert res.attention is not None and res.attention.shape[0] == len(res.tgt_pieces)


@pytest.mark.slow
def test_bad_audio_is_one_error_and_the_rest_is_transcribed(tones, tmp_path):
    model_dir, paths, _, _ = tones
    tr = Transcriber.load(model_dir, "cpu")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not audio at all")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(3)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0" * 600)
    (tmp_path / "three.wav").write_bytes(buf.getvalue())
    out = tr.transcribe_files([paths[0], str(tmp_path / "empty.wav"), str(tmp_path / "text.wav"),
                               str(tmp_path / "three.wav"), str(tmp_path / "missing.wav")])
    assert out[0].text == tr.transcribe(paths[0])
    assert all(isinstance(e, UserError) and "\n" not in str(e) for e in out[1:])
    with pytest.raises(UserError):
        tr.transcribe(np.zeros(1000), sample_rate=None)
    with pytest.raises(UserError):
        tr.transcribe(np.zeros((2, 2, 2)), sample_rate=16000)


@pytest.mark.slow
def test_cli_transcribe_and_evaluate(tones, tmp_path, capsys):
    from seq2seq.cli import main

    model_dir, paths, refs, _ = tones
    assert main(["transcribe", "--model", str(model_dir), "--ctc-weight", "1", paths[0], str(tmp_path / "no.wav"),
                 paths[1]]) == 1
    out, err = capsys.readouterr()
    tr = Transcriber.load(model_dir, "cpu", ctc_weight=1.0)
    assert out.splitlines() == [tr.transcribe(paths[0]), "", tr.transcribe(paths[1])]
    assert err.count("\n") == 1 and err.startswith("error: ") and "no.wav" in err
    (tmp_path / "list").write_text("".join(p + "\n" for p in paths))
    (tmp_path / "refs").write_text("".join(r + "\n" for r in refs))
    assert main(["evaluate", "--model", str(model_dir), "--src", str(tmp_path / "list"), "--ref",
                 str(tmp_path / "refs"), "--ctc-weight", "1", "--json"]) == 0
    import json

    scores = json.loads(capsys.readouterr().out)
    expected = error_rates(tr.transcribe(paths), refs)
    assert scores["wer"]["score"] == expected["wer"].score and scores["cer"]["score"] == expected["cer"].score
