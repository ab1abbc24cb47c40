"""The decoding engine (seq2seq.decode.fast) against its contract: the plain `Decoder.step` is the definition.

FastStep must give the plain step's logits, states and attention (LSTM, GRU, Elman; one or two layers; with and
without input feeding; whole vocabulary or a shortlist; beams sharing one memory row), and search over it must
pass the same oracles as over the plain decoder: brute force, beam 1 == greedy, padding invariance; int8 too.
"""

import itertools

import pytest
import torch
from torch.nn import functional as F

from seq2seq.data.batching import collate
from seq2seq.config import ModelConfig, SearchConfig
from seq2seq.loading import quantize_dynamic
from seq2seq.model import build_model
from seq2seq.decode.fast import FastStep
from seq2seq.decode.kernels import Packed
from seq2seq.decode.search import beam_search, decode, greedy_search, length_penalty
from seq2seq.data.tokenizer import BOS, EOS, UNK

V = 30
SHORTLIST = torch.tensor([EOS, UNK] + list(range(4, V, 2)))  # every other word
CASES = [("lstm", 2, True), ("lstm", 1, False), ("gru", 2, True), ("gru", 1, False), ("rnn", 2, True)]


def _model(cell="lstm", layers=2, vocab=V, **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(emb_dim=16, hidden=24, enc_layers=1, dec_layers=layers, dropout=0.0, emb_dropout=0.0,
                      cell=cell, **kw)
    m = build_model(cfg, vocab, vocab).eval()
    with torch.no_grad():  # peaked distributions: rankings far apart, so rounding cannot flip them
        m.decoder.output.weight.mul_(8)
    return m


def _enc(m, srcs):
    b = collate(srcs)
    return m.encode(b.src, b.src_lengths), b.src_lengths


def test_packed_linear_equals_linear():
    torch.manual_seed(0)
    w, b = torch.randn(40, 24), torch.randn(40)
    for bias in (b, None):
        p = Packed(w, bias)
        for x in (torch.randn(7, 24), torch.randn(3, 1, 24), torch.randn(1, 24)):
            assert torch.allclose(p(x), F.linear(x, w, bias), atol=1e-5)


@pytest.mark.parametrize("cell,layers,feeding", CASES)
@pytest.mark.parametrize("shortlist", [False, True])
def test_fast_step_equals_plain_step(cell, layers, feeding, shortlist):
    """Logits (cut to the shortlist), states and attention of the plain step, step after step."""
    m = _model(cell, layers, input_feeding=feeding)
    d, cols = m.decoder, (SHORTLIST if shortlist else None)
    with torch.inference_mode():
        enc, _ = _enc(m, [[5, 6, 7, 8], [9, 10]])
        fast = FastStep(d, cols)
        assert (fast.lstm is not None) == (cell == "lstm")
        assert fast.columns is cols
        keys = d.precompute(enc)
        s1 = s2 = d.init_state(enc)
        tokens = torch.tensor([BOS, BOS])
        for _ in range(4):
            l1, s1, a1 = d.step(tokens, s1, enc, keys)
            l2, s2, a2 = fast.step(tokens, s2, enc, keys)
            want = l1 if cols is None else l1[:, cols]
            assert l2.shape == want.shape
            assert torch.allclose(l2, want, atol=1e-4)
            assert torch.allclose(s1.hidden, s2.hidden, atol=1e-5) and torch.allclose(a1, a2, atol=1e-5)
            if cell == "lstm":
                assert torch.allclose(s1.cell, s2.cell, atol=1e-5)
            tokens = (cols if cols is not None else torch.arange(V))[l2.argmax(1)]


@pytest.mark.parametrize("stepper", ["plain", "fast"])
def test_beams_share_one_memory_row(stepper):
    """group=g: each memory row serves g consecutive rows, exactly as if the memory were repeated g times."""
    m = _model("lstm", 2)
    d = m.decoder
    with torch.inference_mode():
        enc, _ = _enc(m, [[5, 6, 7, 8], [9, 10]])
        step = d if stepper == "plain" else FastStep(d)
        g = 3
        expand = torch.arange(2).repeat_interleave(g)
        state = d.init_state(enc).select(expand)
        tokens = torch.tensor([BOS, 5, 6, BOS, 7, 8])
        grouped = step.step(tokens, state, enc, d.precompute(enc), group=g)
        big = enc.select(expand)
        repeated = step.step(tokens, state, big, d.precompute(big))
        assert torch.allclose(grouped[0], repeated[0], atol=1e-5)
        assert torch.allclose(grouped[2], repeated[2], atol=1e-6)


def _score(stepper, enc, seq: list[int]) -> float:
    """Sum of log-probabilities of seq + EOS (over the stepper's columns): what search must maximise."""
    cols = stepper.columns.tolist() if stepper.columns is not None else None
    keys, state = stepper.precompute(enc), stepper.init_state(enc)
    total, prev = 0.0, BOS
    for tok in seq + [EOS]:
        logits, state, _ = stepper.step(torch.tensor([prev]), state, enc, keys)
        total += torch.log_softmax(logits.float(), -1)[0, tok if cols is None else cols.index(tok)].item()
        prev = tok
    return total


def _tol(name: str) -> dict:
    """int8 quantizes activations per call with the batch's own range, so a sentence's scores move a little with
    its batch-mates (here up to ~1%): the oracles hold for its outputs, and for its scores up to that."""
    return {"abs": 2e-2, "rel": 2e-2} if name == "int8" else {"abs": 1e-4}


def _steppers(cell: str):
    """(name, model, stepper) for the engine's variants on one tiny model."""
    m = _model(cell, 1, vocab=7)
    q = quantize_dynamic(_model(cell, 1, vocab=7))
    return [("fast", m, FastStep(m.decoder)), ("fast+shortlist", m, FastStep(m.decoder, torch.tensor([EOS, 4, 5]))),
            ("int8", q, FastStep(q.decoder))]


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_fast_beam_matches_brute_force(cell, alpha):
    """A beam wide enough to hold every prefix is exact over the engine's scores, for each variant."""
    for name, m, step in _steppers(cell):
        words = [UNK, 4, 5, 6] if step.columns is None else [4, 5]
        max_len = 4
        with torch.inference_mode():
            enc, _ = _enc(m, [[4, 5, 6, 4]])
            seqs = [list(s) for n in range(max_len) for s in itertools.product(words, repeat=n)]
            scored = sorted(((_score(step, enc, s) / length_penalty(len(s) + 1, alpha), s) for s in seqs),
                            reverse=True)
            out = beam_search(step, enc, torch.tensor([max_len]), beam=len(seqs), alpha=alpha, nbest=3)
        assert out.tokens[0] == [s for _, s in scored[:3]], name
        assert out.scores[0] == pytest.approx([sc for sc, _ in scored[:3]], **_tol(name)), name


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_fast_beam_one_equals_greedy(cell):
    for name, m, step in _steppers(cell):
        with torch.inference_mode():
            enc, _ = _enc(m, [[4, 5, 6, 4, 5], [6, 5], [4, 4, 4]])
            max_len = torch.tensor([9, 9, 9])
            g = greedy_search(step, enc, max_len)
            one = beam_search(step, enc, max_len, beam=1, alpha=0.0)
        assert g.tokens == one.tokens, name
        assert [s[0] for s in g.scores] == pytest.approx([s[0] for s in one.scores], **_tol(name)), name


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("beam", [1, 3])
def test_fast_padding_invariance(cell, beam):
    """A sentence decodes the same alone and inside a padded batch, for each variant of the engine."""
    srcs = [[4, 5, 6, 4, 5, 6, 4], [6, 5], [4, 4, 6]]
    for name, m, step in _steppers(cell):
        with torch.inference_mode():
            enc, lengths = _enc(m, srcs)
            together = decode(step, enc, lengths, SearchConfig(beam=beam, alpha=0.6))
            for i, s in enumerate(srcs):
                e1, l1 = _enc(m, [s])
                alone = decode(step, e1, l1, SearchConfig(beam=beam, alpha=0.6))
                assert alone.tokens[0] == together.tokens[i], name
                assert alone.scores[0][0] == pytest.approx(together.scores[i][0], **_tol(name)), name


def test_int8_step_stays_close_to_float():
    """int8 weights change the numbers a little, not the model: logits within a small fraction of their range."""
    m = _model("lstm", 2)
    q = quantize_dynamic(_model("lstm", 2))
    with torch.inference_mode():
        enc, _ = _enc(m, [[5, 6, 7, 8], [9, 10]])
        lf, _, _ = m.decoder.step(torch.tensor([BOS, BOS]), m.decoder.init_state(enc), enc, m.decoder.precompute(enc))
        qe, _ = _enc(q, [[5, 6, 7, 8], [9, 10]])
        lq, _, _ = FastStep(q.decoder).step(torch.tensor([BOS, BOS]), q.decoder.init_state(qe), qe,
                                            q.decoder.precompute(qe))
    spread = (lf.max() - lf.min()).item()
    assert (lq - lf).abs().max().item() < 0.05 * spread


def test_whole_vocabulary_as_shortlist_changes_nothing():
    m = _model()
    with torch.inference_mode():
        enc, lengths = _enc(m, [[5, 6, 7, 8, 9], [9, 10], [4, 4, 6]])
        for beam in (1, 3):
            plain = decode(FastStep(m.decoder), enc, lengths, SearchConfig(beam=beam, alpha=0.6))
            every = decode(FastStep(m.decoder, torch.arange(V)), enc, lengths, SearchConfig(beam=beam, alpha=0.6))
            assert plain.tokens == every.tokens
            assert [s[0] for s in plain.scores] == pytest.approx([s[0] for s in every.scores], abs=1e-4)


@pytest.mark.parametrize("beam", [1, 3])
def test_a_sentence_decodes_the_same_alone_and_in_any_batch_with_its_own_shortlist(beam):
    """Shortlist.for_batch: the batch computes the union of its sentences' shortlists, and search masks each
    sentence to its own, so the result is the one the sentence gets alone (where its shortlist is the union)."""
    from seq2seq.decode.shortlist import Shortlist

    torch.manual_seed(0)
    sl = Shortlist(torch.randint(4, V, (V, 3)), torch.tensor([4, 5]), V)  # 3 targets per source piece
    m = _model("lstm", 2)
    srcs = [[5, 6, 7, 8, 9], [9, 10], [4, 4, 6], [11, 12, 13, 14]]
    with torch.inference_mode():
        enc, lengths = _enc(m, srcs)
        columns, own = sl.for_batch(collate(srcs).src)
        assert not own.all()  # the sentences' shortlists differ
        together = decode(FastStep(m.decoder, columns), enc, lengths, SearchConfig(beam=beam, alpha=0.6), own=own)
        for i, s in enumerate(srcs):
            e1, l1 = _enc(m, [s])
            cols1, own1 = sl.for_batch(collate([s]).src)
            alone = decode(FastStep(m.decoder, cols1), e1, l1, SearchConfig(beam=beam, alpha=0.6), own=own1)
            assert alone.tokens[0] == together.tokens[i]
            assert alone.scores[0][0] == pytest.approx(together.scores[i][0], abs=1e-4)
            assert set(together.tokens[i][0]) <= set(cols1.tolist())


def test_search_outputs_only_shortlist_tokens():
    m = _model()
    with torch.inference_mode():
        enc, _ = _enc(m, [[5, 6, 7, 8, 9], [9, 10]])
        caps = torch.tensor([12, 12])
        free = greedy_search(m.decoder, enc, caps)
        used = {t for seq in free.tokens for t in seq[0]}
        allowed = torch.tensor(sorted(set(range(4, V)) - used)[:6] + [EOS])  # none of the free choices
        step = FastStep(m.decoder, allowed)
        for out in (greedy_search(step, enc, caps), beam_search(step, enc, caps, beam=3, alpha=0.6, nbest=2)):
            for hyps in out.tokens:
                for seq in hyps:
                    assert set(seq) <= set(allowed.tolist())


@pytest.mark.parametrize("beam", [1, 3])
def test_repeat_blocking_with_a_shortlist(beam):
    """Banned token ids are mapped to the shortlist's columns: no output holds a token twice (n = 1)."""
    m = _model()
    with torch.inference_mode():
        enc, lengths = _enc(m, [[5, 6, 7, 8, 9], [9, 10], [4, 4, 6]])
        out = decode(FastStep(m.decoder, SHORTLIST), enc, lengths, SearchConfig(beam=beam, alpha=0.6, no_repeat_ngram=1))
    for hyps in out.tokens:
        for seq in hyps:
            assert len(seq) == len(set(seq)) and set(seq) <= set(SHORTLIST.tolist())
