"""Command line, in-process through `seq2seq.cli.main`: one-line errors with exit code 2, and the good paths of
train / translate / evaluate on a tiny model trained once for this module (digit reversal, a few seconds on CPU).

The tiny model is barely trained, so tests check properties of its output (line counts, order, format), never
particular translations or scores.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import seq2seq.train.trainer  # noqa: F401  (imported here, not under a redirect: Trainer binds sys.stderr at import)
import seq2seq.engine
import seq2seq.translate
from seq2seq.cli import build_parser, main
from seq2seq.config import valid_keys
from seq2seq.decode.search import Hypotheses
from seq2seq.data.tokenizer import Tokenizer

DIGITS = set("0123456789 ")
TRAIN_OVERRIDES = [
    "model.hidden=32", "model.emb_dim=16", "model.enc_layers=1", "model.dec_layers=1", "model.cell=gru",
    "model.dropout=0.0", "model.emb_dropout=0.0", "data.spm_type=char", "data.vocab_size=16",
    "train.max_steps=30", "train.valid_every=30", "train.log_every=10", "train.batch_tokens=600",
    "train.device=cpu", "search.beam=2",
]


def _reverse_pairs(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    src = [" ".join(str(rng.randint(0, 9)) for _ in range(rng.randint(1, 10))) for _ in range(n)]
    return src, [" ".join(reversed(s.split())) for s in src]


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _write_config(path: Path, model_dir: Path, data: dict[str, Path]) -> Path:
    lines = [f"model_dir: {model_dir}", "data:"] + [f"  {k}: {v}" for k, v in data.items()]
    lines += ["  max_len: 40", "model:", "  attention: bahdanau", "train:", "  lr: 0.003", "  schedule: constant",
              "  label_smoothing: 0.0", "search:", "  alpha: 0.0"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train the tiny model once; returns paths and the printed summary."""
    root = tmp_path_factory.mktemp("cli")
    rng = random.Random(0)
    train_src, train_tgt = _reverse_pairs(rng, 300)
    valid_src, valid_tgt = _reverse_pairs(rng, 12)
    data = {
        "train_src": _write_lines(root / "train.src", train_src),
        "train_tgt": _write_lines(root / "train.tgt", train_tgt),
        "valid_src": _write_lines(root / "valid.src", valid_src),
        "valid_tgt": _write_lines(root / "valid.tgt", valid_tgt),
    }
    model_dir = root / "model"
    cfg = _write_config(root / "reverse.yaml", model_dir, data)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["train", str(cfg), "--set", *TRAIN_OVERRIDES])
    assert rc == 0
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    return {"root": root, "cfg": cfg, "model_dir": model_dir, "summary": summary, "valid_src": data["valid_src"],
            "valid_tgt": data["valid_tgt"], "valid_lines": valid_src}


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_user_error(rc: int, err: str) -> str:
    """Exit code 2 and exactly one stderr line, `error: ...`, with no traceback; returns the line."""
    assert rc == 2
    assert "Traceback" not in err
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1, err
    assert lines[0].startswith("error:")
    return lines[0]


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="utf-8"))


# --- the process entry point ----------------------------------------------------------------------------------

def test_module_help_in_subprocess():
    res = subprocess.run([sys.executable, "-m", "seq2seq", "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    for cmd in ("train", "translate", "evaluate"):
        assert cmd in res.stdout
    assert "Traceback" not in res.stderr


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"seq2seq {seq2seq.__version__}"


def test_no_command_prints_help(capsys):
    rc, out, _ = _run(capsys, [])
    assert rc == 2
    assert "usage:" in out


def test_repeated_set_accumulates():
    args = build_parser().parse_args(["train", "c.yaml", "--set", "model.cell=gru", "--set", "train.lr=0.1"])
    assert args.set == ["model.cell=gru", "train.lr=0.1"]


def test_set_takes_several_overrides():
    args = build_parser().parse_args(["train", "c.yaml", "--set", "model.cell=gru", "train.lr=0.1", "--resume"])
    assert args.set == ["model.cell=gru", "train.lr=0.1"] and args.resume and args.config == "c.yaml"


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["translate", "--beam", "wide", "hello"])  # not an integer
    assert e.value.code == 2
    assert "--beam" in capsys.readouterr().err


# --- bad input: one `error:` line, exit code 2 ----------------------------------------------------------------

def test_missing_config_file(capsys, tmp_path):
    path = tmp_path / "nope.yaml"
    rc, out, err = _run(capsys, ["train", path])
    line = _assert_user_error(rc, err)
    assert str(path) in line
    assert out == ""


def test_unknown_config_key(capsys, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"model_dir: {tmp_path / 'm'}\n")
    rc, _, err = _run(capsys, ["train", cfg, "--set", "model.nope=1"])
    line = _assert_user_error(rc, err)
    assert "model.nope" in line
    for key in valid_keys():
        assert key in line
    assert not (tmp_path / "m").exists()


def test_bad_config_value(capsys, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model:\n  cell: transformer\n")
    rc, _, err = _run(capsys, ["train", cfg])
    assert "model.cell" in _assert_user_error(rc, err)


def test_invalid_yaml_config(capsys, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("model: [unclosed\n")
    rc, _, err = _run(capsys, ["train", cfg])
    assert str(cfg) in _assert_user_error(rc, err)


def test_train_without_data(capsys, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"model_dir: {tmp_path / 'm'}\n")
    rc, _, err = _run(capsys, ["train", cfg])
    assert "data" in _assert_user_error(rc, err)


def test_train_with_missing_data_file(capsys, tmp_path):
    missing = tmp_path / "nope.src"
    cfg = _write_config(tmp_path / "cfg.yaml", tmp_path / "m", {"train_src": missing,
                                                                 "train_tgt": _write_lines(tmp_path / "t", ["a"])})
    rc, _, err = _run(capsys, ["train", cfg])
    assert str(missing) in _assert_user_error(rc, err)


def test_translate_model_dir_missing(capsys, tmp_path):
    missing = tmp_path / "no-such-model"
    rc, out, err = _run(capsys, ["translate", "--model", missing, "1 2 3"])
    assert str(missing) in _assert_user_error(rc, err)
    assert out == ""


def test_translate_dir_is_not_a_model(capsys, tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    rc, out, err = _run(capsys, ["translate", "--model", tmp_path, "1 2 3"])
    line = _assert_user_error(rc, err)
    assert str(tmp_path) in line and "config.yaml" in line
    assert out == ""


def test_evaluate_missing_src(capsys, trained, tmp_path):
    missing = tmp_path / "nope.src"
    rc, out, err = _run(capsys, ["evaluate", "--model", trained["model_dir"], "--src", missing,
                                 "--ref", trained["valid_tgt"]])
    assert str(missing) in _assert_user_error(rc, err)
    assert out == ""


def test_evaluate_missing_ref(capsys, trained, tmp_path):
    missing = tmp_path / "nope.ref"
    rc, _, err = _run(capsys, ["evaluate", "--model", trained["model_dir"], "--src", trained["valid_src"],
                               "--ref", missing])
    assert str(missing) in _assert_user_error(rc, err)


def test_evaluate_ref_line_count_differs(capsys, trained, tmp_path):
    n = len(trained["valid_lines"])
    ref = _write_lines(tmp_path / "short.ref", ["1 2"] * (n - 2))
    rc, out, err = _run(capsys, ["evaluate", "--model", trained["model_dir"], "--src", trained["valid_src"],
                                 "--ref", ref])
    line = _assert_user_error(rc, err)
    assert str(ref) in line and str(n - 2) in line and str(n) in line
    assert out == ""


def test_nbest_larger_than_beam(capsys, trained):
    rc, out, err = _run(capsys, ["translate", "--model", trained["model_dir"], "--nbest", "3", "--beam", "2", "1 2"])
    assert "nbest" in _assert_user_error(rc, err)
    assert out == ""


def test_train_refuses_existing_run(capsys, trained):
    last = trained["model_dir"] / "last.pt"
    before = last.stat().st_mtime_ns
    rc, out, err = _run(capsys, ["train", trained["cfg"], "--set", *TRAIN_OVERRIDES])
    line = _assert_user_error(rc, err)
    assert "--resume" in line and str(trained["model_dir"]) in line
    assert out == ""
    assert last.stat().st_mtime_ns == before


def test_resume_without_checkpoint(capsys, trained, tmp_path):
    rc, out, err = _run(capsys, ["train", trained["cfg"], "--resume", "--set", f"model_dir={tmp_path / 'fresh'}",
                                 *TRAIN_OVERRIDES])
    line = _assert_user_error(rc, err)
    assert "last.pt" in line
    assert out == ""


# --- good paths with the tiny model ---------------------------------------------------------------------------

def test_training_result(trained):
    d = trained["model_dir"]
    assert trained["summary"]["step"] == 30
    assert Path(trained["summary"]["model_dir"]) == d
    for name in ("config.yaml", "spm.model", "last.pt", "best.pt", "log.jsonl", "shortlist.pt"):
        assert (d / name).is_file(), name
    records = [json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["type"] == "valid"] == [30]
    assert [r["step"] for r in records if r["type"] == "train"] == [10, 20, 30]
    assert all(math.isfinite(r["loss"]) for r in records)
    # the saved config holds the command-line overrides
    saved = (d / "config.yaml").read_text()
    assert "cell: gru" in saved and "hidden: 32" in saved and "spm_type: char" in saved


def test_translate_stdin_one_line_per_input(capsys, monkeypatch, trained):
    lines = ["1 2 3", "", "4 5", "   ", "9 8 7 6 5", "\t", "0", "3 3 3 3 3 3 3"]
    _stdin(monkeypatch, "\n".join(lines) + "\n")
    rc, out, err = _run(capsys, ["translate", "--model", trained["model_dir"], "--batch-size", "1"])
    assert rc == 0, err
    assert "Traceback" not in err
    outs = out.split("\n")
    assert outs[-1] == ""  # newline-terminated
    outs = outs[:-1]
    assert len(outs) == len(lines)
    for src, hyp in zip(lines, outs):
        if not src.strip():
            assert hyp == ""
        assert set(hyp) <= DIGITS
    # in order: each line equals that sentence translated on its own (batch size 1 makes them bit-identical)
    texts = [t for t in lines if t.strip()]
    rc, out2, _ = _run(capsys, ["translate", "--model", trained["model_dir"], "--batch-size", "1", *texts])
    assert rc == 0
    assert out2.split("\n")[:-1] == [h for s, h in zip(lines, outs) if s.strip()]


def test_translate_stdin_line_endings(capsys, monkeypatch, trained):
    _stdin(monkeypatch, "1 2\r\n\r\n3 4")  # CRLF, an empty CRLF line, no final newline
    rc, out, _ = _run(capsys, ["translate", "--model", trained["model_dir"]])
    assert rc == 0
    outs = out.split("\n")[:-1]
    assert len(outs) == 3 and outs[1] == ""
    assert "\r" not in out


def test_translate_empty_stdin(capsys, monkeypatch, trained):
    _stdin(monkeypatch, "")
    rc, out, _ = _run(capsys, ["translate", "--model", trained["model_dir"]])
    assert rc == 0 and out == ""


def test_translate_keeps_input_order_across_batches(capsys, monkeypatch, trained):
    """With a stand-in search whose output length is the source length, every output line shows which input
    it came from: batches are sorted by length inside, and the lines must still come back in input order."""
    tok = Tokenizer(trained["model_dir"] / "spm.model")
    seven = tok.sp.piece_to_id("7")
    assert seven > 3

    def fake_decode(decoder, enc, src_lengths, search, *args, **kwargs):
        n, nbest = src_lengths.tolist(), search.nbest
        return Hypotheses([[[seven] * k] * nbest for k in n], [[-float(k)] * nbest for k in n])

    monkeypatch.setattr(seq2seq.engine, "decode", fake_decode)
    lines = ["1 2 3 4 5", "1", "", "2 2", "9 9 9 9 9 9 9 9", "1 2 3 4 5", " ", "0 0 0", "5"]
    _stdin(monkeypatch, "\n".join(lines) + "\n")
    rc, out, _ = _run(capsys, ["translate", "--model", trained["model_dir"], "--batch-size", "2"])
    assert rc == 0
    expected = ["7" * (len(ids) + 1) if t.strip() else "" for t, ids in zip(lines, tok.encode(lines))]
    assert out.split("\n")[:-1] == expected

    # an over-long line is cut to MAX_SRC_TOKENS subword tokens (+ EOS) with a warning naming the line
    long_line = " ".join(["1"] * 200)  # 400 subword tokens with the char model
    _stdin(monkeypatch, f"1 2\n{long_line}\n")
    rc, out, err = _run(capsys, ["translate", "--model", trained["model_dir"]])
    assert rc == 0
    assert out.split("\n")[:-1] == ["7" * 5, "7" * (seq2seq.translate.MAX_SRC_TOKENS + 1)]  # "1 2": 4 + EOS
    assert "line 2" in err and str(seq2seq.translate.MAX_SRC_TOKENS) in err


def test_translate_truncates_overlong_line(capsys, monkeypatch, trained):
    assert seq2seq.translate.MAX_SRC_TOKENS == 250
    long_line = " ".join(str(i % 10) for i in range(200))  # 400 subword tokens with the char model
    _stdin(monkeypatch, f"1 2 3\n{long_line}\n4 5\n")
    rc, out, err = _run(capsys, ["translate", "--model", trained["model_dir"], "--beam", "1"])
    assert rc == 0
    assert len(out.split("\n")[:-1]) == 3
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "line 2" in warnings[0] and "400" in warnings[0] and "250" in warnings[0]
    assert "Traceback" not in err


def test_translate_nbest(capsys, monkeypatch, trained):
    lines = ["1 2 3", "", "4 5 6 7"]
    _stdin(monkeypatch, "\n".join(lines) + "\n")
    rc, out, err = _run(capsys, ["translate", "--model", trained["model_dir"], "--nbest", "2", "--beam", "3"])
    assert rc == 0, err
    rows = out.split("\n")
    assert rows[-1] == ""
    rows = rows[:-1]
    assert len(rows) == 3 * len(lines)
    for i, src in enumerate(lines):
        group = rows[3 * i: 3 * i + 3]
        assert group[2] == ""
        scores = []
        for row in group[:2]:
            m = re.fullmatch(r"(-?\d+\.\d{4})\t([0-9 ]*)", row)
            assert m, row
            scores.append(float(m.group(1)))
            if not src.strip():
                assert row == "0.0000\t"
        assert all(math.isfinite(s) and s <= 0 for s in scores)
        assert scores[0] >= scores[1]


def test_translate_text_arguments(capsys, trained):
    rc, out, _ = _run(capsys, ["translate", "--model", trained["model_dir"], "--beam", "1", "1 2", "3 4 5"])
    assert rc == 0
    assert len(out.split("\n")[:-1]) == 2


def test_shortlist_rebuild_and_opt_out(capsys, trained, tmp_path):
    """`seq2seq shortlist` rebuilds a model's shortlist; --no-shortlist decodes over the whole vocabulary."""
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(trained["model_dir"], d)
    rc, out, err = _run(capsys, ["shortlist", "--model", d, "--top", "3", "--frequent", "2"])
    assert rc == 0, err
    assert "shortlist.pt" in out and "top 3" in out
    for flags in ([], ["--no-shortlist"]):
        rc, out, err = _run(capsys, ["translate", "--model", d, *flags, "1 2 3", "4 5"])
        assert rc == 0, err
        assert len(out.split("\n")[:-1]) == 2 and set(out) <= DIGITS | {" ", "\n"}
    # --shortlist / --no-shortlist override the config's search.shortlist either way, as the Python API does
    import yaml

    from seq2seq.translate import Translator

    texts = ["1 2 3 4 5 6", "7 8 9 0", "5 5 1"]
    for config_value in (False, True):
        raw = yaml.safe_load((d / "config.yaml").read_text())
        raw["search"]["shortlist"] = config_value
        (d / "config.yaml").write_text(yaml.safe_dump(raw))
        for flags, on in (([], config_value), (["--shortlist"], True), (["--no-shortlist"], False)):
            rc, out, err = _run(capsys, ["translate", "--model", d, *flags, *texts])
            assert rc == 0 and out.splitlines() == Translator.load(d, "cpu", shortlist=on).translate(texts), flags
    _assert_user_error(*_run(capsys, ["shortlist", "--model", d, "--src", trained["valid_src"]])[::2])
    (d / "shortlist.pt").write_bytes(b"garbage")
    line = _assert_user_error(*_run(capsys, ["translate", "--model", d, "1 2"])[::2])
    assert "shortlist" in line


def test_evaluate_json(capsys, trained, tmp_path):
    hyp_file = tmp_path / "hyps.txt"
    rc, out, err = _run(capsys, ["evaluate", "--model", trained["model_dir"], "--src", trained["valid_src"],
                                 "--ref", trained["valid_tgt"], "--json", "--output", hyp_file])
    assert rc == 0, err
    scores = json.loads(out)
    assert set(scores) == {"bleu", "chrf", "ter"}
    for name, s in scores.items():
        assert isinstance(s["signature"], str) and s["signature"]
        assert isinstance(s["score"], (int, float)) and s["score"] >= 0
    assert "nrefs:1" in scores["bleu"]["signature"]
    assert 0 <= scores["bleu"]["score"] <= 100 and 0 <= scores["chrf"]["score"] <= 100
    hyps = hyp_file.read_text().split("\n")[:-1]
    assert len(hyps) == len(trained["valid_lines"])

    # --output holds exactly what `translate` prints for the same lines
    rc, out, _ = _run(capsys, ["translate", "--model", trained["model_dir"], *trained["valid_lines"]])
    assert out.split("\n")[:-1] == hyps


def test_evaluate_plain_two_refs(capsys, trained):
    rc, out, err = _run(capsys, ["evaluate", "--model", trained["model_dir"], "--src", trained["valid_src"],
                                 "--ref", trained["valid_tgt"], "--ref", trained["valid_tgt"], "-lc"])
    assert rc == 0, err
    assert out.count("signature:") == 3
    assert "nrefs:2" in out
    assert out.startswith("BLEU")
