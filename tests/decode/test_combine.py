"""Ensembles and fusion (seq2seq.decode.combine.LogLinear): the oracles again, over combined models."""

import itertools

import pytest
import torch

from seq2seq.errors import UserError
from seq2seq.data.batching import collate
from seq2seq.config import ModelConfig, SearchConfig
from seq2seq.model import build_model
from seq2seq.decode.combine import LogLinear, PerModel
from seq2seq.decode.fast import FastStep
from seq2seq.decode.search import beam_search, decode, greedy_search, length_penalty
from seq2seq.data.tokenizer import BOS, EOS, UNK

V = 7  # UNK, 4, 5, 6 and the specials: small enough to enumerate


def _model(seed: int, cell: str = "lstm"):
    torch.manual_seed(seed)
    cfg = ModelConfig(emb_dim=8, hidden=8, enc_layers=1, dec_layers=1, dropout=0.0, emb_dropout=0.0, cell=cell,
                      tie_embeddings=False)
    m = build_model(cfg, V, V).eval()
    with torch.no_grad():
        m.decoder.output.weight.mul_(10)
    return m


def _encs(models, srcs):
    b = collate(srcs)
    return PerModel(m.encode(b.src, b.src_lengths) for m in models), b.src_lengths


def test_one_member_is_that_member():
    m = _model(0)
    with torch.inference_mode():
        enc, lengths = _encs([m], [[4, 5, 6], [6, 5]])
        alone = decode(m.decoder, enc[0], lengths, SearchConfig(beam=3, alpha=0.6))
        one = decode(LogLinear([m.decoder], [1.0]), enc, lengths, SearchConfig(beam=3, alpha=0.6))
    assert one.tokens == alone.tokens
    assert [s[0] for s in one.scores] == pytest.approx([s[0] for s in alone.scores], abs=1e-5)


def test_two_copies_average_to_the_model_itself():
    m = _model(0)
    with torch.inference_mode():
        enc, lengths = _encs([m, m], [[4, 5, 6, 5], [6, 4]])
        alone = decode(m.decoder, enc[0], lengths, SearchConfig(beam=3, alpha=0.6))
        both = decode(LogLinear([FastStep(m.decoder), m.decoder], [0.5, 0.5]), enc, lengths, SearchConfig(beam=3, alpha=0.6))
    assert both.tokens == alone.tokens


def test_step_is_the_weighted_sum_of_log_probabilities():
    a, b = _model(0), _model(1, "gru")
    with torch.inference_mode():
        enc, _ = _encs([a, b], [[4, 5, 6]])
        ens = LogLinear([a.decoder, b.decoder], [0.3, 0.7])
        keys, state = ens.precompute(enc), ens.init_state(enc)
        logits, state, attn = ens.step(torch.tensor([BOS]), state, enc, keys)
        la, _, aa = a.decoder.step(torch.tensor([BOS]), a.decoder.init_state(enc[0]), enc[0], a.decoder.precompute(enc[0]))
        lb, _, ab = b.decoder.step(torch.tensor([BOS]), b.decoder.init_state(enc[1]), enc[1], b.decoder.precompute(enc[1]))
    want = 0.3 * torch.log_softmax(la, -1) + 0.7 * torch.log_softmax(lb, -1)
    assert torch.allclose(logits, want, atol=1e-5)
    assert torch.allclose(attn, (aa + ab) / 2, atol=1e-6)
    assert isinstance(state, PerModel) and len(state) == 2
    with torch.inference_mode():  # attend=1: member 1's attention alone (a captioner ensemble's first member's)
        second = LogLinear([a.decoder, b.decoder], [0.3, 0.7], attend=1)
        logits1, _, attn1 = second.step(torch.tensor([BOS]), second.init_state(enc), enc, second.precompute(enc))
    assert torch.equal(attn1, ab.float()) and torch.allclose(logits1, want, atol=1e-5)


def _score(stepper, enc, seq):
    keys, state = stepper.precompute(enc), stepper.init_state(enc)
    total, prev = 0.0, BOS
    for tok in seq + [EOS]:
        logits, state, _ = stepper.step(torch.tensor([prev]), state, enc, keys)
        total += torch.log_softmax(logits.float(), -1)[0, tok].item()
        prev = tok
    return total


@pytest.mark.parametrize("weights", [[0.5, 0.5], [1.0, 0.3]])
def test_combined_beam_matches_brute_force(weights):
    """An ensemble ([0.5, 0.5]) and a fusion-like weighting ([1, 0.3]): search maximises the combined score."""
    a, b = _model(2), _model(3, "gru")
    max_len = 4
    with torch.inference_mode():
        enc, _ = _encs([a, b], [[4, 5, 6, 4]])
        ens = LogLinear([a.decoder, b.decoder], weights)
        seqs = [list(s) for n in range(max_len) for s in itertools.product([UNK, 4, 5, 6], repeat=n)]
        scored = sorted(((_score(ens, enc, s) / length_penalty(len(s) + 1, 0.6), s) for s in seqs), reverse=True)
        out = beam_search(ens, enc, torch.tensor([max_len]), beam=len(seqs), alpha=0.6, nbest=3)
    assert out.tokens[0] == [s for _, s in scored[:3]]
    assert out.scores[0] == pytest.approx([sc for sc, _ in scored[:3]], abs=1e-4)


def test_combined_beam_one_equals_greedy_and_sentences_leave_the_batch():
    a, b = _model(4), _model(5)
    with torch.inference_mode():
        enc, lengths = _encs([a, b], [[4, 5, 6, 6, 5], [5, 6], [4, 4, 4]])
        ens = LogLinear([FastStep(a.decoder), FastStep(b.decoder)], [0.5, 0.5])
        caps = torch.tensor([9, 9, 9])
        g = greedy_search(ens, enc, caps)
        one = beam_search(ens, enc, caps, beam=1, alpha=0.0)
    assert g.tokens == one.tokens


def test_members_must_score_the_same_columns():
    m = _model(0)
    with pytest.raises(UserError, match="same target vocabulary"):
        LogLinear([FastStep(m.decoder), FastStep(m.decoder, torch.tensor([EOS, 4, 5]))], [0.5, 0.5])
