"""The corpus store: memory-mapped token ids equal to the in-memory pipeline, built once per corpus and settings
and reused by the next run (no tokenizing, no tokenizer training), rebuilt when the corpus or a setting changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import reverse_files, tiny_config, write_lines
from seq2seq.data import store
from seq2seq.errors import UserError
from seq2seq.data.batching import bucket_batches, collate, filter_pairs
from seq2seq.data.corpus import load_pairs
from seq2seq.data.store import PairStore
from seq2seq.train.tasks.text import TextTask
from seq2seq.data.tokenizer import Tokenizer


def _task(tmp_path: Path, name: str, data: dict) -> TextTask:
    cfg = tiny_config(tmp_path, data=data)
    for key, value in data.items():  # over tiny_config's own data settings
        setattr(cfg.data, key, value)
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    return TextTask(cfg, tmp_path / name, log=lambda m: None)


@pytest.fixture
def data(tmp_path):
    return {**reverse_files(tmp_path / "data", n_train=600, n_valid=20, max_len=12), "max_len": 10,
            "max_ratio": 1.5, "cache_dir": str(tmp_path / "cache")}


def test_memory_mapped_store_gives_the_same_batches_as_in_memory(tmp_path, data):
    """The cached store (memory maps) and data.cache_dir=null (arrays in RAM) are one code with two backings; both
    give the batches of the plain pipeline: encode every pair, filter, collate."""
    mapped = _task(tmp_path, "mapped", data)
    in_ram = _task(tmp_path, "ram", {**data, "cache_dir": None})
    assert isinstance(mapped.src.tokens, np.memmap) and not isinstance(in_ram.src.tokens, np.memmap)
    src, tgt = load_pairs(data["train_src"], data["train_tgt"])
    tok = Tokenizer(tmp_path / "mapped" / "spm.model")
    src_ids, tgt_ids = tok.encode(src), tok.encode(tgt)
    keep, _ = filter_pairs(src_ids, tgt_ids, 1, 10, 1.5)
    assert 0 < len(keep) < len(src)  # some pairs are filtered out: row i of the store is kept pair i
    for task in (mapped, in_ram):
        lengths = task.lengths()
        assert [a.dtype for a in lengths] == [np.int32, np.int32]
        assert lengths[0].tolist() == [len(src_ids[i]) for i in keep]
        for idx in bucket_batches(*lengths, 120, seed=1):
            got, want = task.batch(idx), collate([src_ids[keep[i]] for i in idx], [tgt_ids[keep[i]] for i in idx])
            assert got.src.equal(want.src) and got.tgt_in.equal(want.tgt_in) and got.tgt_out.equal(want.tgt_out)


def test_second_preparation_reuses_the_tokenizer_the_ids_and_the_shortlist(tmp_path, data, monkeypatch):
    first = _task(tmp_path, "first", data)

    def refuse(*a, **k):
        raise AssertionError("prepared again")

    monkeypatch.setattr(PairStore, "build", refuse)
    monkeypatch.setattr(Tokenizer, "train", refuse)
    monkeypatch.setattr("seq2seq.decode.shortlist.ibm1", refuse)
    second = _task(tmp_path, "second", data)  # a new model directory, the same data and settings
    assert (tmp_path / "second" / "spm.model").read_bytes() == (tmp_path / "first" / "spm.model").read_bytes()
    assert second.src.tokens.filename == first.src.tokens.filename
    assert second.shortlist.lexicon.equal(first.shortlist.lexicon)
    assert (tmp_path / "second" / "shortlist.pt").is_file()


def _folders(tmp_path, kind):
    return sorted(p.name for p in (tmp_path / "cache").glob(f"{kind}-*") if p.is_dir())


def test_cache_keys_follow_the_corpus_and_the_settings(tmp_path, data):
    _task(tmp_path, "a", data)
    _task(tmp_path, "b", {**data, "max_len": 9})  # another filter: new ids, the same tokenizer
    assert len(_folders(tmp_path, "spm")) == 1 and len(_folders(tmp_path, "pairs")) == 2
    _task(tmp_path, "c", {**data, "vocab_size": 15})  # another tokenizer setting: a tokenizer of its own
    assert len(_folders(tmp_path, "spm")) == 2
    lines = Path(data["train_src"]).read_text().splitlines()
    write_lines(Path(data["train_src"]), lines[:-1] + ["1 2 3"])  # one changed line
    _task(tmp_path, "d", data)
    assert len(_folders(tmp_path, "spm")) == 3 and len(_folders(tmp_path, "pairs")) == 4


def test_an_interrupted_build_leaves_nothing_behind(tmp_path, data, monkeypatch):
    real = Tokenizer.encode
    calls = []

    def encode_then_fail(self, texts):
        calls.append(len(texts))
        if len(calls) == 2:  # midway through the training pairs
            raise KeyboardInterrupt
        return real(self, texts)

    monkeypatch.setattr(Tokenizer, "encode", encode_then_fail)
    with pytest.raises(KeyboardInterrupt):
        _task(tmp_path, "a", data)
    monkeypatch.setattr(Tokenizer, "encode", real)
    assert _folders(tmp_path, "pairs") == [] and not list((tmp_path / "cache").glob("pairs-*.tmp-*"))
    task = _task(tmp_path, "b", data)
    assert len(task.src) == len(_task(tmp_path, "c", {**data, "cache_dir": None}).src)


def test_ids_of_a_large_vocabulary_are_stored_wide(tmp_path):
    class Wide:  # a tokenizer whose ids do not fit 16 bits
        def __len__(self):
            return 70_000

        def encode(self, texts):
            return [[69_999, 4] for _ in texts]

    cfg = tiny_config(tmp_path).data
    (tmp_path / "s").mkdir()
    PairStore.build([(["a", "b"], ["c", "d"])], Wide(), Wide(), cfg, tmp_path / "s")
    got = PairStore.open(tmp_path / "s")
    assert got.src.tokens.dtype == np.int32 and got.src[1] == [69_999, 4] and len(got) == 2
    assert PairStore.open(tmp_path / "missing") is None


def test_holding_out_validation_pairs_from_a_streamed_corpus(tmp_path):
    """Without validation data the last pairs are held out, and neither tokenized for training nor counted."""
    files = reverse_files(tmp_path / "data", n_train=400, n_valid=5)
    data = {"train_src": files["train_src"], "train_tgt": files["train_tgt"], "cache_dir": str(tmp_path / "c")}
    task = _task(tmp_path, "m", data)
    src, tgt = load_pairs(files["train_src"], files["train_tgt"])
    assert task.valid_src_text == src[-20:] and task.valid_refs == [tgt[-20:]]  # 400 // 20
    assert len(task.src) == 380


def test_fingerprint_is_the_content():
    a = store.fingerprint([__file__])
    assert a == store.fingerprint([Path(__file__)]) and a != store.fingerprint([__file__, __file__])
    with pytest.raises(UserError, match="file not found: /nonexistent"):  # a missing corpus is not a write error
        store.fingerprint(["/nonexistent"])


def test_unwritable_cache_is_one_error_line(tmp_path, data):
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="corpus cache"):
        _task(tmp_path, "m", {**data, "cache_dir": str(tmp_path / "file" / "cache")})


def test_a_moved_corpus_is_the_same_corpus(tmp_path, data):
    """The cache is keyed by the files' contents, not their names."""
    _task(tmp_path, "a", data)
    moved = tmp_path / "moved"
    moved.mkdir()
    for side in ("train_src", "train_tgt"):
        (moved / side).write_bytes(Path(data[side]).read_bytes())
    _task(tmp_path, "b", {**data, "train_src": str(moved / "train_src"), "train_tgt": str(moved / "train_tgt")})
    assert len(_folders(tmp_path, "spm")) == 1 and len(_folders(tmp_path, "pairs")) == 1
