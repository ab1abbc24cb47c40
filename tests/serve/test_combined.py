"""Serving combined models: an ensemble entry (A+B) is one model, a --lm is fused into the models that write its
language; /models shows the members and the LM; requests give what the Python API gives with the same settings;
bad combinations are refused at startup with one `error:` line."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

import toy_models

from conftest import tiny_config, write_lines
from seq2seq.errors import UserError
from seq2seq.cli import main
from seq2seq.config import from_dict
from seq2seq.train.trainer import Trainer
from seq2seq.translate import Translator
from seq2seq.serve.app import create_app
from seq2seq.serve.registry import Fusion, load_served


def _lm(folder, lines: list[str], spm_model: str | None = None, lang: str = "tgt", steps: int = 10) -> str:
    """A tiny GRU language model of `lines` (on `spm_model`, else on a word model of its own) writing `lang`."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {"train_tgt": write_lines(folder / "train.txt", lines), "valid_tgt": write_lines(folder / "valid.txt",
            lines[:50]), "cache_dir": str(folder / "cache"), "tgt_lang": lang,
            **({"spm_model": spm_model, "spm_type": "char"} if spm_model else {"spm_type": "word", "vocab_size": 16})}
    cfg = from_dict({"model_dir": str(folder / "model"), "data": data,
                     "model": {"encoder": "none", "attention": "none", "input_feeding": False, "cell": "gru",
                               "emb_dim": 16, "hidden": 32, "dec_layers": 1, "dropout": 0.0, "emb_dropout": 0.0},
                     "train": {"batch_tokens": 400, "max_steps": steps, "valid_every": steps, "log_every": steps,
                               "lr": 0.01, "schedule": "constant", "label_smoothing": 0.0}})
    Trainer(cfg, progress=False).train()
    return cfg.model_dir


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The toy translator, an LM of its target side on its sentencepiece model, an LM of the same language on
    another one, an LM of another language, and a translator of the same task with another vocabulary."""
    tmp = tmp_path_factory.mktemp("combined")
    tr = toy_models.translator_dir()
    cfg = yaml.safe_load((tr / "config.yaml").read_text())
    targets = Path(cfg["data"]["train_tgt"]).read_text().splitlines()[:300]
    other = tiny_config(tmp / "other", data={k: cfg["data"][k] for k in ("train_src", "train_tgt", "valid_src",
                                                                         "valid_tgt")},
                        train={"max_steps": 1, "valid_every": 1})
    other.data.spm_type = "word"  # another sentencepiece model
    Trainer(other, progress=False).train()
    return {"tr": str(tr), "lm": _lm(tmp / "lm", targets, spm_model=str(tr / "spm.model")),
            "word_lm": _lm(tmp / "word", targets, steps=2), "de_lm": _lm(tmp / "de", targets, lang="de", steps=2),
            "other": other.model_dir, "cap": str(toy_models.captioner_dir())}


def test_an_ensemble_with_fusion_is_served_as_one_model(models):
    tr, lm = models["tr"], models["lm"]
    translators, captioners = load_served([tr, f"{tr}+{tr}"], [Fusion(lm, 0.5)], "cpu")
    assert list(translators) == ["model", "model+model"] and captioners == {}
    texts = ["1 2 3", "4 5 6 7", ""]
    with TestClient(create_app(translators, window_ms=1)) as c:
        listed = {m["name"]: m for m in c.get("/models").json()["models"]}
        assert listed["model+model"]["members"] == [tr, tr] and listed["model"]["members"] == [tr]
        assert all(m["lm"] == {"model": lm, "weight": 0.5} for m in listed.values())
        r = c.post("/translate", json={"text": texts, "model": "model+model", "beam": 3})
        assert r.status_code == 200 and r.json()["model"] == "model+model"
        got = [t["text"] for t in r.json()["translations"]]
    want = Translator.load([tr, tr], "cpu", beam=3, lm=lm, lm_weight=0.5).translate(texts)
    assert got == want and got[0]  # what the Python API gives with the same settings, and not nothing


def test_a_captioner_ensemble_is_served_as_one_model(models):
    """A+B of captioners: one captioning model named after its members, captioning as the Python API's ensemble."""
    import io
    import random

    from conftest import draw
    from seq2seq.caption import Captioner

    cap = models["cap"]
    translators, captioners = load_served([f"{cap}+{cap}"], [], "cpu")
    assert translators == {} and list(captioners) == ["model+model"]
    image = draw("red", "square", random.Random(0))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    with TestClient(create_app(translators, captioners, window_ms=1)) as c:
        (listed,) = c.get("/models").json()["models"]
        r = c.post("/caption", files={"file": ("a.png", buf.getvalue(), "image/png")},
                   data={"model": "model+model", "beam": "2"})
    assert listed["name"] == "model+model" and listed["members"] == [cap, cap]
    assert r.status_code == 200, r.text
    assert r.json()["caption"] == Captioner.load([cap, cap], "cpu", beam=2).caption(image)


def test_without_lm_nothing_is_fused(models):
    translators, _ = load_served([models["tr"]], [], "cpu")
    with TestClient(create_app(translators, window_ms=1)) as c:
        (m,) = c.get("/models").json()["models"]
    assert m["lm"] is None and m["members"] == [models["tr"]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _refused(capsys, monkeypatch, *args: str) -> str:
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("the server started"))
    assert main(["serve", *args, "--port", str(_free_port())]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("args,says", [
    (["--model", "{tr}+{other}"], "different vocabularies"),
    (["--model", "{tr}", "--lm", "{word_lm}", "--lm-weight", "0.3"], "cannot be fused into model (which writes tgt)"),
    (["--model", "{tr}", "--lm", "{de_lm}", "--lm-weight", "0.3"], "writes de, but no served model does"),
    (["--model", "{tr}", "--lm", "{lm}", "--lm", "{word_lm}", "--lm-weight", "0.3", "--lm-weight", "0.3"],
     "both write tgt"),
    (["--model", "{tr}", "--lm", "{lm}"], "give one --lm-weight per --lm"),
    (["--model", "{tr}", "--lm", "{lm}", "--lm-weight", "0"], "must be in (0, 10]"),
    (["--model", "{tr}", "--lm", "{tr}", "--lm-weight", "0.3"], "is not a language model"),
    (["--model", "{tr}", "{lm}"], "is a language model; give it as --lm"),
    (["--model", "{tr}", "{tr}"], "both named 'model'"),
    (["--model", "{tr}+"], "an ensemble is written A+B"),
    (["--model", "{cap}+{tr}"], "is a translation model, not a captioning model"),
    (["--model", "{tr}", "--model", "{tr}"], "give every model after one --model"),
])
def test_bad_combinations_are_refused_at_startup(models, capsys, monkeypatch, args, says):
    err = _refused(capsys, monkeypatch, *[a.format(**models) for a in args])
    assert says in err


def test_refusals_are_user_errors_in_python_too(models):
    with pytest.raises(UserError, match="different vocabularies"):
        load_served([f"{models['tr']}+{models['other']}"], [], "cpu")
