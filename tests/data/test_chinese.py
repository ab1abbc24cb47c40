"""Chinese: the normalizer by hand, tokenizer round trips (full-width punctuation, digits, mixed Latin,
Traditional input), BLEU with sacreBLEU's zh tokenizer, empty lines, and `--from zh` picking the model."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from seq2seq.metrics import bleu, bleu_tokenize, short_for_bleu
from seq2seq.data.textnorm import chinese, normalizer, spm_rule
from seq2seq.data.tokenizer import Tokenizer

CHARS = "呢我你他她们的是在有不这个人来到上大学天昨迟了吗好很看书喝茶水饭吃东西中国家朋友今明年月日老师生"


@pytest.mark.parametrize("raw, want", [
    ("我昨天上學遲到了。", "我昨天上学迟到了。"),  # Traditional -> Simplified
    ("你好嗎?", "你好吗？"),  # ASCII question mark after Chinese -> full width, as Chinese is written
    ("他说:好!", "他说：好！"),
    ("我有３个苹果，你呢？", "我有3个苹果，你呢？"),  # full-width digits -> ASCII; Chinese punctuation kept
    ("Ｔｏｍ喜欢ＮＢＡ。", "Tom喜欢NBA。"),
    ("Tom, 你好", "Tom, 你好"),  # a comma after Latin text stays ASCII
    ("零\u200b宽", "零宽"),  # zero-width space removed
    ("「好」", "「好」"),
])
def test_chinese_normalizer_by_hand(raw, want):
    assert chinese(raw) == want
    assert chinese(want) == want  # idempotent


def test_only_chinese_has_a_normalizer():
    assert normalizer(["en"]) is None and normalizer(["de", "en"]) is None
    assert normalizer(["zh"]) is chinese and normalizer(["en", "zh"]) is chinese
    assert spm_rule(["zh"]) == "identity" and spm_rule(["en"]) == "nmt_nfkc"


@pytest.fixture(scope="module")
def zh_tok(tmp_path_factory) -> Tokenizer:
    rng = random.Random(0)
    marks = ["。", "？", "！", "，"]
    texts = ["".join(rng.choice(CHARS) for _ in range(rng.randint(4, 12))) + rng.choice(marks) for _ in range(3000)]
    texts += [f"我有{rng.randint(0, 999)}个苹果。" for _ in range(300)] + ["Tom喜欢NBA。", "他用iPhone。"] * 50
    return Tokenizer.train(texts, tmp_path_factory.mktemp("zh") / "spm.model", 300, character_coverage=0.9995,
                           langs=["zh"])


@pytest.mark.parametrize("text", ["我昨天上学迟到了。", "你好吗？", "我有3个苹果，你呢？", "Tom喜欢NBA。",
                                  "他用iPhone看书！"])
def test_chinese_round_trips_through_the_tokenizer(zh_tok, text):
    ids = zh_tok.encode([text])[0]
    assert zh_tok.decode([ids]) == [text]  # full-width punctuation, digits and Latin words come back as they were


def test_tokenizer_normalizes_what_it_encodes(zh_tok):
    assert zh_tok.encode(["我昨天上學遲到了?"]) == zh_tok.encode(["我昨天上学迟到了？"])
    assert zh_tok.encode(["我有３个苹果"]) == zh_tok.encode(["我有3个苹果"])
    assert zh_tok.decode(zh_tok.encode(["你好吗?"])) == ["你好吗？"]  # not sentencepiece's NFKC "?"


def test_chinese_tokenizer_keeps_its_languages(zh_tok, tmp_path):
    from seq2seq.data.tokenizer import load_pair

    d = tmp_path / "model"
    d.mkdir()
    (d / "config.yaml").write_text("data:\n  src_lang: zh\n  tgt_lang: en\n  joint_vocab: false\n")
    (d / "spm.src.model").write_bytes(zh_tok.path.read_bytes())
    (d / "spm.tgt.model").write_bytes(zh_tok.path.read_bytes())
    src, tgt = load_pair(d)
    assert src.langs == ("zh",) and src.normalize is chinese
    assert tgt.langs == ("en",) and tgt.normalize is None


def test_bleu_of_chinese_output_uses_the_zh_tokenizer():
    hyp, ref = ["我昨天上学迟到了。"], ["我昨天去学校迟到了。"]
    assert bleu_tokenize("zh") == "zh" and bleu_tokenize("en") == "13a" and bleu_tokenize(None) == "13a"
    assert bleu(hyp, ref) == 0.0  # 13a sees one "word" each: no match
    assert bleu(hyp, ref, tokenize="zh") > 30  # character n-grams match
    assert short_for_bleu(ref) == 1.0 and short_for_bleu(ref, "zh") == 0.0


# -- a tiny Chinese -> English model, end to end ------------------------------------------------------------
@pytest.fixture(scope="module")
def zh_en(tmp_path_factory) -> Path:
    from conftest import tiny_config, write_lines
    from seq2seq.train.trainer import Trainer

    tmp = tmp_path_factory.mktemp("zh-en")
    rng = random.Random(1)
    words = {"我": "I", "你": "you", "他": "he", "书": "book", "茶": "tea", "水": "water"}
    pairs = []
    for _ in range(600):
        ks = [rng.choice(list(words)) for _ in range(rng.randint(1, 4))]
        pairs.append(("".join(ks) + "。", " ".join(words[k] for k in ks) + "."))
    src, tgt = zip(*pairs)
    data = {"train_src": write_lines(tmp / "train.zh", src[:550]), "train_tgt": write_lines(tmp / "train.en", tgt[:550]),
            "valid_src": write_lines(tmp / "dev.zh", src[550:]), "valid_tgt": write_lines(tmp / "dev.en", tgt[550:]),
            "src_lang": "zh", "tgt_lang": "en", "joint_vocab": False, "spm_type": "char", "vocab_size": 40,
            "character_coverage": 0.9995, "max_len": 40}
    cfg = tiny_config(tmp, data=data, train={"max_steps": 20, "valid_every": 20})
    Trainer(cfg, progress=False).train()
    return Path(cfg.model_dir)


def test_empty_and_whitespace_chinese_lines_give_empty_lines(zh_en):
    from seq2seq import Translator

    tr = Translator.load(zh_en, "cpu")
    out = tr.translate(["", "   ", "\u3000", "我喝茶。", "\u3000\u3000"])
    assert out[0] == out[1] == out[2] == out[4] == ""
    assert isinstance(out[3], str)


def test_traditional_input_is_translated_as_simplified(zh_en):
    from seq2seq import Translator

    tr = Translator.load(zh_en, "cpu")
    assert tr.translate("我們喝茶。") == tr.translate("我们喝茶。")  # 們 -> 们


def test_from_zh_picks_the_chinese_model(zh_en, tmp_path, monkeypatch, capsys):
    import shutil

    from seq2seq.errors import UserError
    from seq2seq.cli import main
    from seq2seq.hub import resolve

    models = tmp_path / "models"
    shutil.copytree(zh_en, models / "toy-zh-en")
    monkeypatch.setenv("SEQ2SEQ_MODELS", str(models))
    assert resolve(None, "zh", None) == models / "toy-zh-en"
    assert resolve(None, "zh", "en") == models / "toy-zh-en"
    try:
        other = resolve(None, "en", "zh")
    except UserError:  # no English -> Chinese model shipped
        other = None
    assert other != models / "toy-zh-en"  # a zh->en model never answers for en->zh
    assert main(["translate", "--from", "zh", "--to", "en", "我喝茶。"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
