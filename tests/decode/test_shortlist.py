"""Lexical shortlist (IBM Model 1): training, cutting, candidates, files. Decoding with it: tests/decode/test_fast.py."""

import pytest
import torch

from seq2seq.errors import UserError
from seq2seq.data.batching import collate
from seq2seq.decode.shortlist import Shortlist, ibm1
from seq2seq.data.tokenizer import BOS, EOS, PAD, UNK

# a toy parallel corpus: source word w translates to target word w + 10 (ids above the specials)
PAIRS = [([4, 5], [14, 15]), ([4, 6], [14, 16]), ([5, 6], [15, 16]), ([4], [14]), ([6, 5, 4], [16, 15, 14])]


def test_ibm1_learns_the_word_translations():
    src, tgt = zip(*PAIRS)
    table = ibm1(list(src), list(tgt), 8, 18, iterations=10).dense()
    assert table.shape == (9, 18)  # + the NULL row
    seen = [4, 5, 6, 8]  # the words and NULL: a distribution over targets each; unseen words: nothing
    assert torch.allclose(table.sum(1), torch.tensor([1.0 if w in seen else 0.0 for w in range(9)]))
    for w in (4, 5, 6):
        assert int(table[w].argmax()) == w + 10


def test_ibm1_counts_only_links_within_a_pair():
    """A target word never seen with a source word keeps zero probability for it."""
    table = ibm1([[4], [5]], [[14], [15]], 6, 16, iterations=3).dense()
    assert table[4, 15] == 0 and table[5, 14] == 0
    assert table[4, 14] == pytest.approx(1.0, abs=1e-6)


def test_ibm1_chunks_give_the_same_table(monkeypatch):
    """EM in chunks of links (bounded memory) computes the same table as in one piece."""
    import seq2seq.decode.shortlist as sl

    src, tgt = zip(*PAIRS * 3)
    whole = ibm1(list(src), list(tgt), 8, 18, iterations=4).dense()
    monkeypatch.setattr(sl, "CHUNK_LINKS", 5)
    monkeypatch.setattr(sl, "DENSE_ROWS", 1)
    assert torch.equal(ibm1(list(src), list(tgt), 8, 18, iterations=4).dense(), whole)


def _dense_ibm1(src, tgt, src_vocab, tgt_vocab, iterations):
    """IBM Model 1 as the textbook (and this module until the sparse EM) has it: a dense (src_vocab + 1, tgt_vocab)
    table, row src_vocab for NULL; each target token's count is shared among its sentence's source tokens + NULL."""
    table = torch.full((src_vocab + 1, tgt_vocab), 1.0 / tgt_vocab)
    for _ in range(iterations):
        counts = torch.zeros_like(table)
        for s, t in zip(src, tgt):
            if s and t:
                s_ext = torch.tensor(s + [src_vocab])
                for j in t:
                    p = table[s_ext, j]  # a source word twice in the sentence: two links, each counted
                    counts.index_put_((s_ext, torch.full_like(s_ext, j)), p / p.sum(), accumulate=True)
        table = counts / counts.sum(1, keepdim=True).clamp_min(1e-12)
    return table


def _random_corpus(n, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, 9, (2, n), generator=g).tolist()
    return ([torch.randint(4, vocab, (k,), generator=g).tolist() for k in lengths[0]],
            [torch.randint(4, vocab, (k,), generator=g).tolist() for k in lengths[1]])


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_em_equals_the_dense_table(seed):
    """Where the dense table fits, the sparse EM gives its probabilities (to float tolerance) and its shortlist."""
    src, tgt = _random_corpus(120, 40, seed)
    dense = _dense_ibm1(src, tgt, 40, 40, iterations=5)
    lex = ibm1(src, tgt, 40, 40, iterations=5)
    assert torch.allclose(lex.dense(), dense, atol=1e-6)
    assert len(lex.keys) < 41 * 40  # only the pairs that share a sentence pair are stored
    got = Shortlist.from_table(lex, tgt, top=5, frequent=3)
    seen = {i for s, t in zip(src, tgt) if s and t for i in s}  # rows that hold a distribution
    table = dense[:-1].clone()
    table[:, [PAD, BOS]] = -1.0
    for w in seen:  # the same top 5 (as sets: an exact tie may be ordered either way)
        assert set(got.lexicon[w].tolist()) == set(table[w].topk(5).indices.tolist())


def test_a_32k_joint_vocabulary_gets_a_shortlist():
    """The dense table would have 32,001 x 32,000 entries (4 GB): the sparse one holds only co-occurring pairs."""
    vocab = 32_000
    src, tgt = _random_corpus(300, vocab, 2)
    sl = Shortlist.train(src, tgt, vocab, vocab, top=30, frequent=50)
    assert sl.lexicon.shape == (vocab, 30) and sl.lexicon.dtype == torch.int16  # 32,000 < 2**15
    pairs = {(a, b) for s, t in zip(src, tgt) if s and t for a in s for b in t}
    for a, b in list(pairs)[:50]:
        if len({x for s, t in zip(src, tgt) if a in s and t for x in t}) <= 30:  # few candidates: all kept
            assert b in sl.lexicon[a].tolist()
    assert PAD not in sl.lexicon.flatten().tolist() and BOS not in sl.lexicon.flatten().tolist()


def test_ibm1_rejects_empty_data():
    with pytest.raises(UserError):
        ibm1([[], [4]], [[14], []], 6, 16)


def test_candidates_union_of_lexicon_frequent_and_specials():
    src, tgt = zip(*PAIRS)
    sl = Shortlist.train(list(src), list(tgt), 8, 18, top=1, frequent=1)
    assert sl.lexicon[4].tolist() == [14] and sl.lexicon[6].tolist() == [16]
    assert sl.frequent.tolist() == [14]  # 14 is the most frequent target word
    batch = collate([[6], [6, 6]]).src  # padded; EOS appended
    got = sl.candidates(batch).tolist()
    assert got == sorted(got)
    assert set(got) == {16, 14, EOS, UNK}  # 6's translation, the frequent word, EOS and UNK; never PAD/BOS
    assert PAD not in got and BOS not in got


def test_for_batch_union_columns_and_each_sentences_own():
    src, tgt = zip(*PAIRS)
    sl = Shortlist.train(list(src), list(tgt), 8, 18, top=1, frequent=0)
    batch = collate([[4], [6, 6]]).src  # padded; EOS appended
    columns, own = sl.for_batch(batch)
    assert columns.tolist() == [UNK, EOS, 14, 16]  # the union, ids ascending
    assert own.tolist() == [[True, True, True, False],  # sentence 0: its word's translation 14, EOS, UNK
                            [True, True, False, True]]  # sentence 1: 16, EOS, UNK; not 14 (sentence 0's)
    alone = sl.for_batch(collate([[6, 6]]).src)
    assert alone[0].tolist() == [UNK, EOS, 16] and alone[1].all()
    assert sl.candidates(batch).tolist() == columns.tolist()


def test_shortlist_save_load_and_errors(tmp_path):
    src, tgt = zip(*PAIRS)
    sl = Shortlist.train(list(src), list(tgt), 8, 18, top=2, frequent=3)
    sl.save(tmp_path)
    back = Shortlist.load(tmp_path)
    assert torch.equal(back.lexicon, sl.lexicon) and torch.equal(back.frequent, sl.frequent)
    assert back.tgt_vocab == 18
    assert Shortlist.load(tmp_path / "none") is None
    assert Shortlist.for_model(tmp_path, 8, 18).tgt_vocab == 18
    with pytest.raises(UserError, match="vocabularies"):
        Shortlist.for_model(tmp_path, 8, 20)
    (tmp_path / "shortlist.pt").write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="not a readable shortlist"):
        Shortlist.load(tmp_path)
    with pytest.raises(UserError):
        Shortlist.train(list(src), list(tgt), 8, 18, top=0)
