"""Lexical shortlist (IBM Model 1) and the decoder's per-batch step cache (packed weights, shortlist logits)."""

import pytest
import torch
from torch.nn import functional as F

from seq2seq import UserError
from seq2seq.batching import collate
from seq2seq.config import ModelConfig
from seq2seq.model import build_model
from seq2seq.model.kernels import Packed
from seq2seq.search import beam_search, decode, greedy_search
from seq2seq.shortlist import Shortlist, ibm1
from seq2seq.tokenizer import BOS, EOS, PAD, UNK

# a toy parallel corpus: source word w translates to target word w + 10 (ids above the specials)
PAIRS = [([4, 5], [14, 15]), ([4, 6], [14, 16]), ([5, 6], [15, 16]), ([4], [14]), ([6, 5, 4], [16, 15, 14])]


def test_ibm1_learns_the_word_translations():
    src, tgt = zip(*PAIRS)
    table = ibm1(list(src), list(tgt), 8, 18, iterations=10)
    assert table.shape == (9, 18)  # + the NULL row
    seen = [4, 5, 6, 8]  # the words and NULL: a distribution over targets each; unseen words: nothing
    assert torch.allclose(table.sum(1), torch.tensor([1.0 if w in seen else 0.0 for w in range(9)]))
    for w in (4, 5, 6):
        assert int(table[w].argmax()) == w + 10


def test_ibm1_counts_only_links_within_a_pair():
    """A target word never seen with a source word keeps zero probability for it."""
    table = ibm1([[4], [5]], [[14], [15]], 6, 16, iterations=3)
    assert table[4, 15] == 0 and table[5, 14] == 0
    assert table[4, 14] == pytest.approx(1.0, abs=1e-6)


def test_ibm1_chunks_give_the_same_table(monkeypatch):
    """EM in chunks of links (bounded memory) computes the same table as in one piece."""
    import seq2seq.shortlist as sl

    src, tgt = zip(*PAIRS * 3)
    whole = ibm1(list(src), list(tgt), 8, 18, iterations=4)
    monkeypatch.setattr(sl, "CHUNK_LINKS", 5)
    assert torch.allclose(ibm1(list(src), list(tgt), 8, 18, iterations=4), whole, atol=1e-6)


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


def test_packed_linear_equals_linear():
    torch.manual_seed(0)
    w, b = torch.randn(40, 24), torch.randn(40)
    for bias in (b, None):
        p = Packed(w, bias)
        for x in (torch.randn(7, 24), torch.randn(3, 1, 24), torch.randn(1, 24)):
            assert torch.allclose(p(x), F.linear(x, w, bias), atol=1e-5)


def _model(cell="lstm", layers=2, vocab=30, **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(emb_dim=16, hidden=24, enc_layers=1, dec_layers=layers, dropout=0.0, emb_dropout=0.0,
                      cell=cell, **kw)
    m = build_model(cfg, vocab, vocab).eval()
    with torch.no_grad():  # peaked distributions: rankings far apart, so rounding cannot flip them
        m.decoder.output.weight.mul_(8)
    return m


@pytest.mark.parametrize("cell,layers,feeding", [("lstm", 2, True), ("lstm", 1, False), ("gru", 2, True)])
def test_step_cache_matches_the_plain_step(cell, layers, feeding):
    """Packed weights, and with a shortlist the precomputed embedding gates, give the plain step's numbers."""
    m = _model(cell, layers, input_feeding=feeding)
    d = m.decoder
    b = collate([[5, 6, 7, 8], [9, 10]])
    vocab = torch.tensor([EOS, UNK] + list(range(4, 30, 2)))  # a shortlist: every other word
    with torch.inference_mode():
        enc = m.encode(b.src, b.src_lengths)
        keys = d.precompute(enc)
        for v in (None, vocab):
            cache = d.step_cache(v)
            assert (cache.cells is not None) == (cell == "lstm")
            assert (cache.gates is not None) == (cell == "lstm" and feeding and v is not None)
            s1 = s2 = d.init_state(enc)
            tokens = torch.tensor([BOS, BOS])
            for _ in range(4):
                l1, s1, a1 = d.step(tokens, s1, enc, keys)
                l2, s2, a2 = d.step(tokens, s2, enc, keys, cache=cache)
                full = l1 if v is None else l1[:, v]
                assert l2.shape == full.shape
                assert torch.allclose(l2, full, atol=1e-4)
                assert torch.allclose(s1.hidden, s2.hidden, atol=1e-5) and torch.allclose(a1, a2, atol=1e-5)
                tokens = (v if v is not None else torch.arange(30))[l2[:, :].argmax(1)]


def test_search_with_the_whole_vocabulary_as_shortlist_is_unchanged():
    """A 'shortlist' of every id changes nothing: same outputs and scores as no shortlist."""
    m = _model()
    b = collate([[5, 6, 7, 8, 9], [9, 10], [4, 4, 6]])
    with torch.inference_mode():
        enc = m.encode(b.src, b.src_lengths)
        for beam in (1, 3):
            plain = decode(m.decoder, enc, b.src_lengths, beam=beam, alpha=0.6, nbest=1)
            every = decode(m.decoder, enc, b.src_lengths, beam=beam, alpha=0.6, nbest=1, vocab=torch.arange(30))
            assert plain.tokens == every.tokens
            assert [s[0] for s in plain.scores] == pytest.approx([s[0] for s in every.scores], abs=1e-4)


def test_search_outputs_only_shortlist_tokens():
    m = _model()
    b = collate([[5, 6, 7, 8, 9], [9, 10]])
    with torch.inference_mode():
        enc = m.encode(b.src, b.src_lengths)
        free = greedy_search(m.decoder, enc, torch.tensor([12, 12]))
        used = {t for seq in free.tokens for t in seq[0]}
        allowed = torch.tensor(sorted(set(range(4, 30)) - used)[:6] + [EOS])  # none of the free choices
        for out in (greedy_search(m.decoder, enc, torch.tensor([12, 12]), vocab=allowed),
                    beam_search(m.decoder, enc, torch.tensor([12, 12]), beam=3, alpha=0.6, nbest=2, vocab=allowed)):
            for hyps in out.tokens:
                for seq in hyps:
                    assert set(seq) <= set(allowed.tolist())
