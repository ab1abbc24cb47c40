"""Search, tested three ways: scripted per-step probabilities, brute force on a tiny model, beam 1 == greedy."""

import itertools
import math

import pytest
import torch

from conftest import TRAP, A, B_, PrefixState, ScriptedDecoder, scripted_enc
from seq2seq.data.batching import collate
from seq2seq.config import ModelConfig, SearchConfig
from seq2seq.model import build_model
from seq2seq.decode.search import Columns, beam_search, decode, greedy_search, length_penalty, select
from seq2seq.data.tokenizer import BOS, EOS, UNK

def test_scripted_beam_escapes_greedy_trap():
    """Greedy follows the likelier first token (0.6 * 0.36 = 0.216); beam finds 'B EOS' (0.4 * 0.9 = 0.36)."""
    max_len = torch.tensor([10])
    g = greedy_search(ScriptedDecoder(TRAP), scripted_enc(1), max_len)
    assert g.tokens == [[[A, A]]] and g.scores[0][0] == pytest.approx(math.log(0.216), abs=1e-6)
    b = beam_search(ScriptedDecoder(TRAP), scripted_enc(1), max_len, beam=2, alpha=0.0, nbest=2)
    assert b.tokens[0] == [[B_], [A, A]]
    assert b.scores[0] == pytest.approx([math.log(0.36), math.log(0.216)], abs=1e-6)


def test_scripted_length_penalty_changes_winner():
    """Raw: '' (0.5) beats 'A A' (0.475); with alpha=1, 'A A' scores log(.475)/(8/6) > log(.5)/1."""
    table = {(): {EOS: 0.5, A: 0.5}, (A,): {A: 0.95, EOS: 0.05}, (A, A): {EOS: 1.0}}
    raw = beam_search(ScriptedDecoder(table), scripted_enc(1), torch.tensor([10]), beam=2, alpha=0.0)
    assert raw.tokens == [[[]]] and raw.scores[0][0] == pytest.approx(math.log(0.5))
    norm = beam_search(ScriptedDecoder(table), scripted_enc(1), torch.tensor([10]), beam=2, alpha=1.0)
    assert norm.tokens == [[[A, A]]]
    assert norm.scores[0][0] == pytest.approx(math.log(0.475) / length_penalty(3, 1.0))


def test_scripted_max_length_forces_eos():
    """EOS always costs 0.1 here; longer is better under alpha=1, so only the cap (EOS included) stops search."""
    table = {(A,) * n: {A: 0.9, EOS: 0.1} for n in range(8)}
    caps = torch.tensor([3, 5])
    g = greedy_search(ScriptedDecoder(table), scripted_enc(2), caps)
    assert g.tokens == [[[A, A]], [[A, A, A, A]]]
    assert g.scores[0][0] == pytest.approx(math.log(0.9**2 * 0.1))  # the forced EOS keeps its probability
    b = beam_search(ScriptedDecoder(table), scripted_enc(2), caps, beam=2, alpha=1.0)
    assert b.tokens == [[[A, A]], [[A, A, A, A]]]
    assert b.scores[1][0] == pytest.approx(math.log(0.9**4 * 0.1) / length_penalty(5, 1.0))


class Forever(dict):
    """The same next-token probabilities after any prefix: only the length cap ends a greedy or beam-2 search."""

    def get(self, key, default=None):
        return {A: 0.6, B_: 0.3, EOS: 0.1}


class RowCounter(ScriptedDecoder):
    """Records how many rows (sentences x beams) each step computes."""

    def __init__(self, table):
        super().__init__(table)
        self.rows = []

    def step(self, tokens, state, enc, keys, group=1):
        self.rows.append(tokens.numel())
        return super().step(tokens, state, enc, keys, group)


def test_ended_sentences_leave_the_batch():
    """A sentence stops costing decoder rows once it is done; the others decode on unchanged."""
    caps = torch.tensor([2, 6, 4])
    g = RowCounter(Forever())
    out = greedy_search(g, scripted_enc(3), caps)
    assert out.tokens == [[[A]], [[A] * 5], [[A] * 3]]
    assert g.rows == [3, 3, 2, 2, 1, 1]
    b = RowCounter(Forever())
    out = beam_search(b, scripted_enc(3), caps, beam=2, alpha=0.0, nbest=2)
    assert out.tokens[0] == [[A], [B_]] and out.tokens[1][0] == [A] * 5 and out.tokens[2][0] == [A] * 3
    assert b.rows == [3, 6, 4, 4, 2, 2]  # the first step is taken once per sentence, not once per beam


def test_scripted_batch_of_different_sentences_is_independent():
    one = beam_search(ScriptedDecoder(TRAP), scripted_enc(1), torch.tensor([10]), beam=2, alpha=0.0, nbest=2)
    many = beam_search(ScriptedDecoder(TRAP), scripted_enc(3), torch.tensor([10, 10, 10]), beam=2, alpha=0.0, nbest=2)
    assert many.tokens == one.tokens * 3


def _tiny_model(vocab=7, cell="lstm", attention="bahdanau"):
    torch.manual_seed(0)
    cfg = ModelConfig(emb_dim=8, hidden=8, enc_layers=1, dec_layers=1, dropout=0.0, emb_dropout=0.0, cell=cell,
                      attention=attention, tie_embeddings=False)
    m = build_model(cfg, vocab, vocab).eval()
    with torch.no_grad():  # make the distributions peaked, so scores are far apart and ranking is unambiguous
        m.decoder.output.weight.mul_(30)
    return m


def _score(model, enc, seq: list[int]) -> float:
    """Sum of log-probabilities of seq + EOS by stepping the decoder (the definition search must optimise)."""
    keys, state = model.decoder.precompute(enc), model.decoder.init_state(enc)
    total, prev = 0.0, BOS
    for tok in seq + [EOS]:
        logits, state, _ = model.decoder.step(torch.tensor([prev]), state, enc, keys)
        total += torch.log_softmax(logits.float(), -1)[0, tok].item()
        prev = tok
    return total


@pytest.mark.parametrize("alpha", [0.0, 0.6])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_beam_matches_brute_force(alpha, cell):
    """With a beam wide enough to hold every prefix, search is exact: its n-best equal full enumeration's."""
    V, max_len = 7, 4  # outputs of up to 3 tokens (UNK, 4, 5, 6; never PAD or BOS) + EOS
    m = _tiny_model(V, cell)
    b = collate([[4, 5, 6, 4]])
    with torch.inference_mode():
        enc = m.encode(b.src, b.src_lengths)
        allseqs = [list(s) for n in range(max_len) for s in itertools.product([UNK, 4, 5, 6], repeat=n)]
        scored = sorted(((_score(m, enc, s) / length_penalty(len(s) + 1, alpha), s) for s in allseqs), reverse=True)
        out = beam_search(m.decoder, enc, torch.tensor([max_len]), beam=len(allseqs), alpha=alpha, nbest=5)
    assert len(allseqs) == 1 + 4 + 16 + 64
    assert out.tokens[0] == [s for _, s in scored[:5]]
    assert out.scores[0] == pytest.approx([sc for sc, _ in scored[:5]], abs=1e-4)


def test_small_beam_scores_are_true_scores():
    """A narrow beam may miss the optimum but what it reports is the real (normalised) score of what it returns."""
    m = _tiny_model()
    b = collate([[4, 5, 6, 4], [6, 6]])
    with torch.inference_mode():
        enc = m.encode(b.src, b.src_lengths)
        out = beam_search(m.decoder, enc, torch.tensor([6, 6]), beam=2, alpha=0.6, nbest=2)
        for i in range(2):
            one = enc.select(torch.tensor([i]))
            for seq, sc in zip(out.tokens[i], out.scores[i]):
                assert sc == pytest.approx(_score(m, one, seq) / length_penalty(len(seq) + 1, 0.6), abs=1e-4)
            assert out.scores[i][0] >= out.scores[i][1]


@pytest.mark.parametrize("cell,attention", [("lstm", "bahdanau"), ("gru", "general"), ("rnn", "none")])
def test_beam_one_equals_greedy(cell, attention):
    m = _tiny_model(11, cell, attention)
    b = collate([[4, 5, 6, 7, 8], [9, 10], [4, 4, 4]])
    with torch.inference_mode():
        enc = m.encode(b.src, b.src_lengths)
        max_len = torch.tensor([12, 12, 12])
        g = greedy_search(m.decoder, enc, max_len)
        one = beam_search(m.decoder, enc, max_len, beam=1, alpha=0.0)
    assert g.tokens == one.tokens
    assert [s[0] for s in g.scores] == pytest.approx([s[0] for s in one.scores], abs=1e-4)


@pytest.mark.parametrize("beam", [1, 4])
def test_padding_invariance_of_search(beam):
    """A sentence decodes the same alone and inside a padded batch of longer and shorter ones."""
    m = _tiny_model(11)
    srcs = [[4, 5, 6, 7, 8, 9, 10, 4], [9, 10], [4, 4, 6, 7]]
    with torch.inference_mode():
        b = collate(srcs)
        together = decode(m.decoder, m.encode(b.src, b.src_lengths), b.src_lengths, SearchConfig(beam=beam, alpha=0.6, nbest=1))
        for i, s in enumerate(srcs):
            one = collate([s])
            alone = decode(m.decoder, m.encode(one.src, one.src_lengths), one.src_lengths, SearchConfig(beam=beam, alpha=0.6))
            assert alone.tokens[0] == together.tokens[i]
            assert alone.scores[0][0] == pytest.approx(together.scores[i][0], abs=1e-4)


def test_attention_is_returned_per_hypothesis():
    m = _tiny_model(11)
    b = collate([[4, 5, 6, 7, 8], [9, 10]])
    with torch.inference_mode():
        enc = m.encode(b.src, b.src_lengths)
        for beam in (1, 3):
            out = decode(m.decoder, enc, b.src_lengths, SearchConfig(beam=beam, alpha=0.6), return_attention=True)
            for i in range(2):
                a = out.attention[i][0]
                assert a.shape == (len(out.tokens[i][0]) + 1, b.src.size(1))
                assert torch.allclose(a.sum(-1), torch.ones(a.size(0)), atol=1e-5)
                assert (a[:, int(b.src_lengths[i]):] == 0).all()


def test_nbest_distinct_and_sorted():
    m = _tiny_model(11)
    b = collate([[4, 5, 6]])
    with torch.inference_mode():
        out = decode(m.decoder, m.encode(b.src, b.src_lengths), b.src_lengths, SearchConfig(beam=5, alpha=0.6, nbest=5))
    assert len(out.tokens[0]) == 5 and len({tuple(t) for t in out.tokens[0]}) == 5
    assert out.scores[0] == sorted(out.scores[0], reverse=True)


# --- the pure per-step selection, by hand ---------------------------------------------------------------------

def _logp(rows):
    return torch.log(torch.tensor(rows)).unsqueeze(0)  # (1, K, V); 0 -> -inf


#          PAD  UNK  BOS  EOS  A
STEP = [[0.0, 0.1, 0.0, 0.5, 0.4],   # beam 0 (score 0)
        [0.0, 0.2, 0.0, 0.7, 0.1]]   # beam 1 (score -1)


def test_select_by_hand():
    """Candidates by total score: EOS0 -0.69, A0 -0.92, EOS1 -1.36, UNK0 -2.30. EOS0 ranks within the top K=2 and
    finishes; EOS1 ranks third, beyond K, so it may not finish even with a free place; A0 and UNK0 live on."""
    cols = Columns.of(None, 5, "cpu")
    alive = torch.tensor([[0.0, -1.0]])
    fin = torch.full((1, 2), float("-inf"))
    sel = select(_logp(STEP), alive, fin, t=0, alpha=0.0, columns=cols)
    assert sel.beam.tolist() == [[0, 0, 1, 0]] and sel.token.tolist() == [[EOS, A, EOS, UNK]]
    assert sel.fin_scores[0, 0].item() == pytest.approx(math.log(0.5))
    assert sel.fin_scores[0, 1].item() == float("-inf")  # EOS1 did not make it
    assert sel.fin_pick[0, 0].item() == 2 + 0  # the first candidate, after the 2 old finished places
    assert sel.alive_pick.tolist() == [[1, 3]]
    assert sel.alive_scores[0].tolist() == pytest.approx([math.log(0.4), math.log(0.1)])


def test_select_normalises_finished_scores_by_length():
    cols = Columns.of(None, 5, "cpu")
    sel = select(_logp(STEP), torch.tensor([[0.0, -1.0]]), torch.full((1, 1), float("-inf")), t=2, alpha=1.0,
                 columns=cols)
    assert sel.fin_scores[0, 0].item() == pytest.approx(math.log(0.5) / ((5 + 3) / 6))
    assert sel.alive_scores[0, 0].item() == pytest.approx(math.log(0.4))  # live scores stay raw sums


def test_select_keeps_a_better_old_finished_hypothesis():
    cols = Columns.of(None, 5, "cpu")
    sel = select(_logp(STEP), torch.tensor([[0.0, -1.0]]), torch.tensor([[-0.1]]), t=0, alpha=0.0, columns=cols)
    assert sel.fin_pick.tolist() == [[0]] and sel.fin_scores.tolist() == [[pytest.approx(-0.1)]]


def test_select_maps_shortlist_columns_to_ids():
    """With a shortlist, column j scores token ids[j]: the selection reports token ids, not columns."""
    ids = torch.tensor([1, 3, 9])  # UNK, EOS, word 9
    cols = Columns.of(ids, 3, "cpu")
    logp = torch.log(torch.tensor([[[0.2, 0.3, 0.5]]]))  # K = 1
    sel = select(logp, torch.zeros(1, 1), torch.full((1, 1), float("-inf")), t=0, alpha=0.0, columns=cols)
    assert sel.token.tolist() == [[9, EOS]] and sel.alive_pick.tolist() == [[0]]


# --- no repeated n-grams ------------------------------------------------------------------------------------

def test_repeat_bans_by_hand():
    from seq2seq.decode.search import repeat_bans

    prefix = torch.tensor([[5, 6, 7, 5, 6], [4, 4, 4, 4, 4], [5, 6, 7, 8, 9]])
    rows, toks = repeat_bans(prefix, 3)  # row 0 ends in (5, 6), seen before followed by 7; row 1 in (4, 4) -> 4
    assert sorted(zip(rows.tolist(), toks.tolist())) == [(0, 7), (1, 4), (1, 4), (1, 4)]
    rows, toks = repeat_bans(prefix, 1)  # unigrams: every token held
    assert {(r, t) for r, t in zip(rows.tolist(), toks.tolist()) if r == 2} == {(2, t) for t in (5, 6, 7, 8, 9)}
    assert repeat_bans(prefix[:, :2], 3)[0].numel() == 0  # no complete 3-gram yet


class Stutter(ScriptedDecoder):
    """A captioner's failure mode: 'a dog and a dog and ...' unless something stops it (A B_ A B_ ... then EOS)."""

    def __init__(self):
        super().__init__({})

    def step(self, tokens, state, enc, keys, group=1):
        prefixes = [p if t == BOS else p + (t,) for p, t in zip(state.prefixes, tokens.tolist())]
        logits = torch.full((len(prefixes), 6), -8.0)
        for i, p in enumerate(prefixes):
            nxt = B_ if p and p[-1] == A else A  # alternate A B_ A B_ ...
            logits[i, nxt] = 0.0
            logits[i, EOS] = -3.0 if len(p) < 6 else 5.0
            logits[i, UNK] = -1.0  # the next best way to go on
        return logits, PrefixState(prefixes), None


def _ngrams(seq, n):
    return [tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("beam", [1, 3])
def test_no_output_repeats_an_ngram(n, beam):
    free = decode(Stutter(), scripted_enc(2), torch.tensor([1, 1]), SearchConfig(beam=beam, alpha=0.0, max_len_ratio=0.0,
                  max_len_offset=12))
    assert len(set(_ngrams(free.tokens[0][0], 2))) < len(_ngrams(free.tokens[0][0], 2))  # it stutters unblocked
    out = decode(Stutter(), scripted_enc(2), torch.tensor([1, 1]), SearchConfig(beam=beam, alpha=0.0, max_len_ratio=0.0,
                 max_len_offset=12, no_repeat_ngram=n))
    for hyps in out.tokens:
        for seq in hyps:
            grams = _ngrams(seq + [EOS], n)
            assert len(grams) == len(set(grams)), seq


def test_beam_one_equals_greedy_with_repeat_blocking():
    caps = torch.tensor([14, 14, 14])
    g = greedy_search(Stutter(), scripted_enc(3), caps, no_repeat_ngram=2)
    b = beam_search(Stutter(), scripted_enc(3), caps, beam=1, alpha=0.0, no_repeat_ngram=2)
    assert g.tokens == b.tokens and g.tokens[0][0] != greedy_search(Stutter(), scripted_enc(1), caps[:1]).tokens[0][0]
