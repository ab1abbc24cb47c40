"""Sentencepiece tokenizer: fixed special ids, lossless round trip on ordinary text, clear errors."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter

import pytest
import sentencepiece as spm

from seq2seq.errors import UserError
from seq2seq.data.tokenizer import BOS, EOS, PAD, UNK, Tokenizer, load_pair, model_files, reservoir

WORDS = ("the cat dog house tree river city man woman child runs sees eats walks small big red green old new "
         "quickly slowly today yesterday and with under over near far hello world").split()
NAMES = ("Anna", "Berlin", "Paris", "Tom", "Hello", "Zoe", "Quebec", "Xavier", "Yves", "Jon", "Kim", "Victor")


def _sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
        if rng.random() < 0.5:
            words.insert(rng.randrange(len(words)), rng.choice(NAMES))
        if rng.random() < 0.3:
            words[rng.randrange(len(words))] += ","
        words[0] = words[0].capitalize()
        out.append(" ".join(words) + rng.choice([".", "!", "?", ".", "..."]))
        if i % 10 == 0:
            out.append(f"{rng.choice(NAMES)}'s {rng.randint(0, 99)} (or {rng.randint(0, 9)}) items: \"yes\"; no - ok.")
    out += ["Hello, world!", "THE BIG RED DOG AND THE CAT!"]
    return out


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("spm") / "sub" / "spm.model"
    return Tokenizer.train(_sentences(200), path, vocab_size=100)


def test_train_writes_the_model(tok):
    assert tok.path.is_file()
    assert tok.path.name == "spm.model"
    assert not tok.path.with_suffix(".tmp").exists()
    assert 10 < len(tok) <= 100
    again = Tokenizer(tok.path)
    assert len(again) == len(tok)


def test_special_ids(tok):
    assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)
    sp = tok.sp
    assert (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, 2, 3)


def test_encode_has_no_bos_eos(tok):
    (ids,) = tok.encode(["the cat sees the dog."])
    assert ids
    assert all(i > EOS for i in ids)
    assert tok.encode([]) == []


@pytest.mark.parametrize("text", [
    "Hello, world!",
    "The cat sees the dog.",
    "Anna walks with Tom near the river, slowly.",
    "Berlin and Paris are big?",
    "Zoe's 42 (or 7) items: \"yes\"; no - ok.",
    "THE RED CAT and the big DOG",
    "a",
])
def test_round_trip(tok, text):
    assert tok.decode(tok.encode([text])) == [text]


def test_round_trip_batch_keeps_order(tok):
    texts = _sentences(30, seed=1)
    assert tok.decode(tok.encode(texts)) == texts


def test_round_trip_empty(tok):
    assert tok.encode([""]) == [[]]
    assert tok.decode([[]]) == [""]


def test_decode_drops_special_ids(tok):
    text = "The old man eats."
    (ids,) = tok.encode([text])
    noisy = [BOS] + ids[:2] + [PAD, UNK] + ids[2:] + [EOS, PAD, PAD]
    assert tok.decode([noisy, [BOS, EOS], [PAD]]) == [text, "", ""]


def test_unseen_character_becomes_unk_and_is_dropped(tok):
    (ids,) = tok.encode(["the \u20ac cat"])  # the euro sign is not in the training text
    assert UNK in ids
    assert tok.decode([ids]) == ["the  cat"]


def test_vocab_smaller_than_alphabet(tmp_path):
    with pytest.raises(UserError, match="vocab"):
        Tokenizer.train(_sentences(20), tmp_path / "spm.model", vocab_size=20)


def test_pieces(tok):
    (ids,) = tok.encode(["the cat"])
    pieces = tok.pieces(ids)
    assert len(pieces) == len(ids)
    assert "".join(pieces).replace("\u2581", " ").strip() == "the cat"


def test_missing_model_file(tmp_path):
    path = tmp_path / "nope.model"
    with pytest.raises(UserError) as e:
        Tokenizer(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("texts", [[], [""], ["", "   ", "\t"]])
def test_train_on_empty_text(tmp_path, texts):
    with pytest.raises(UserError, match="empty"):
        Tokenizer.train(texts, tmp_path / "spm.model", vocab_size=50)
    assert not (tmp_path / "spm.model").exists()


def test_model_with_other_special_ids_is_rejected(tmp_path):
    path = tmp_path / "default-ids.model"
    with open(path, "wb") as f:  # sentencepiece's defaults: unk=0 bos=1 eos=2, no pad
        spm.SentencePieceTrainer.train(sentence_iterator=iter(_sentences(50)), model_writer=f, vocab_size=80,
                                       hard_vocab_limit=False, minloglevel=2)
    with pytest.raises(UserError, match="pad=0"):
        Tokenizer(path)


def test_corrupt_model_file(tmp_path):
    path = tmp_path / "bad.model"
    path.write_text("not a sentencepiece model\n")
    with pytest.raises(UserError):
        Tokenizer(path)


def test_char_model(tmp_path):
    tok = Tokenizer.train(["1 2 3 4 5", "6 7 8 9 0", "3 1 2"], tmp_path / "c.model", vocab_size=16,
                          model_type="char")
    assert tok.decode(tok.encode(["9 0 1"])) == ["9 0 1"]
    (ids,) = tok.encode(["1 2"])
    assert tok.pieces(ids) == ["\u2581", "1", "\u2581", "2"]


def test_model_files_and_load_pair(tmp_path, tok):
    joint = tmp_path / "spm.model"
    assert model_files(tmp_path) == (tmp_path / "spm.src.model", tmp_path / "spm.tgt.model")
    joint.write_bytes(tok.path.read_bytes())
    assert model_files(tmp_path) == (joint, joint)
    src, tgt = load_pair(tmp_path)
    assert src is tgt
    assert len(src) == len(tok)


@pytest.mark.parametrize("joint, expected", [(None, "spm.model"), ("true", "spm.model"),
                                             ("false", "spm.src.model")])
def test_missing_tokenizer_names_the_file_the_model_needs(tmp_path, joint, expected):
    """A joint-vocabulary model without its spm.model was reported as missing spm.src.model."""
    if joint is not None:
        (tmp_path / "config.yaml").write_text(f"data:\n  joint_vocab: {joint}\n")
    with pytest.raises(UserError) as e:
        load_pair(tmp_path)
    assert str(e.value) == f"sentencepiece model not found: {tmp_path / expected}"


def test_separate_vocab_missing_target_names_it(tmp_path, tok):
    (tmp_path / "config.yaml").write_text("data:\n  joint_vocab: false\n")
    (tmp_path / "spm.src.model").write_bytes(tok.path.read_bytes())
    with pytest.raises(UserError, match="spm.tgt.model"):
        load_pair(tmp_path)


def test_full_disk_while_writing_the_model(tmp_path, monkeypatch):
    """One UserError naming the file, and no half-written temporary file left behind."""
    import errno
    import os

    import seq2seq.files

    def fsync(fd):  # the data was written to the temporary file; the disk reports it full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(seq2seq.files.os, "fsync", fsync)
    with pytest.raises(UserError) as e:
        Tokenizer.train(_sentences(50), tmp_path / "spm.model", vocab_size=100)
    assert str(e.value) == f"cannot write {tmp_path / 'spm.model'}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_train_on_a_stream_and_on_a_sample(tmp_path):
    """A generator (a corpus streamed from disk) trains the same model as the list; with `sample` smaller than the
    input, sentencepiece trains on a random sample, the same one every time (fixed seed)."""
    texts = _sentences(300)
    listed = Tokenizer.train(texts, tmp_path / "a.model", vocab_size=80)
    streamed = Tokenizer.train((t for t in texts), tmp_path / "b.model", vocab_size=80)
    assert (tmp_path / "a.model").read_bytes() == (tmp_path / "b.model").read_bytes()
    sampled = [Tokenizer.train(iter(texts), tmp_path / f"s{i}.model", vocab_size=80, sample=150) for i in (1, 2)]
    assert (tmp_path / "s1.model").read_bytes() == (tmp_path / "s2.model").read_bytes()
    assert (tmp_path / "s1.model").read_bytes() != (tmp_path / "a.model").read_bytes()
    assert sampled[0].decode(sampled[0].encode(texts[:5])) == texts[:5] and listed.encode(["a"]) == streamed.encode(["a"])


def test_from_bytes_is_the_same_model(tok):
    """How torchrun's other ranks get rank 0's tokenizer."""
    again = Tokenizer.from_bytes(tok.to_bytes())
    texts = _sentences(20, seed=3)
    assert again.encode(texts) == tok.encode(texts) and len(again) == len(tok)
    with pytest.raises(UserError, match="not a sentencepiece model"):
        Tokenizer.from_bytes(b"junk")


def test_reservoir_sample_is_uniform_and_the_same_in_every_process():
    """The training sample: everything in order when the stream is short; otherwise k distinct items, each kept
    with probability k/n (checked over many seeds), and the same sample in a fresh interpreter (sentencepiece's own
    sampling was not)."""
    items = [f"s{i}" for i in range(10)]
    assert reservoir(iter(items), 10) == items and reservoir(iter(items), 50) == items and reservoir(iter([]), 3) == []
    sample = reservoir(iter(items), 4)
    assert len(sample) == len(set(sample)) == 4 and set(sample) <= set(items)
    counts = Counter(x for seed in range(3000) for x in reservoir(iter(items), 4, seed=seed))
    assert all(abs(counts[x] / 3000 - 0.4) < 0.04 for x in items)  # 4/10; sd ~0.009
    code = "from seq2seq.data.tokenizer import reservoir; print(reservoir((f's{i}' for i in range(1000)), 7))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(reservoir((f"s{i}" for i in range(1000)), 7))
