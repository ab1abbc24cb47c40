"""Sampling (seq2seq.decode.sampling): the filters by hand and as properties, and draws from a scripted distribution that
never leave the nucleus / top k and follow its renormalized probabilities."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq.model.interface import EncoderOutput
from seq2seq.decode.sampling import filter_logits, sample
from seq2seq.data.tokenizer import EOS

PROBS = {4: 0.5, 5: 0.3, 6: 0.15, 7: 0.05}  # the first token's distribution; then EOS


class Fixed:
    """A Stepper: PROBS at the first step, EOS for sure after it."""

    columns = None

    def precompute(self, enc):
        return None

    def init_state(self, enc):
        return EncoderOutput(enc.memory, enc.mask, enc.init_state)  # anything with .select

    def step(self, tokens, state, enc, keys, group=1):
        logits = torch.full((tokens.size(0), 8), -math.inf)
        first = tokens == 2  # BOS
        for tok, p in PROBS.items():
            logits[first, tok] = math.log(p)
        logits[~first, EOS] = 0.0
        return logits, state, None


def _kept(logits: torch.Tensor) -> set[int]:
    return set(torch.isfinite(logits[0]).nonzero().flatten().tolist())


def test_nucleus_by_hand():
    """Vocabulary order differs from probability order; the nucleus is the fewest best tokens reaching top_p."""
    logits = torch.tensor([[math.log(0.15), math.log(0.5), math.log(0.05), math.log(0.3)]])
    assert _kept(filter_logits(logits, top_p=0.4)) == {1}
    assert _kept(filter_logits(logits, top_p=0.7)) == {1, 3}
    assert _kept(filter_logits(logits, top_p=0.8)) == {1, 3}  # 0.5 + 0.3 reaches 0.8 exactly
    assert _kept(filter_logits(logits, top_p=0.81)) == {0, 1, 3}
    assert _kept(filter_logits(logits, top_p=1.0)) == {0, 1, 2, 3}
    assert _kept(filter_logits(logits, top_k=2)) == {1, 3}
    kept = filter_logits(logits, temperature=0.5, top_p=0.7)
    assert kept[0, 1] == pytest.approx(2 * math.log(0.5))  # temperature divides the logits


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=12), st.floats(0.01, 1.0))
def test_nucleus_is_the_smallest_best_set_reaching_p(values, p):
    logits = torch.tensor([values])
    kept = _kept(filter_logits(logits, top_p=p))
    probs = torch.softmax(logits[0], -1)
    mass = float(probs[list(kept)].sum())
    assert mass >= p - 1e-5  # reaches p ...
    assert min(probs[list(kept)]) >= max([probs[i] for i in range(len(values)) if i not in kept], default=0) - 1e-7
    smallest = min(kept, key=lambda i: float(probs[i]))
    assert mass - float(probs[smallest]) < p + 1e-5  # ... and no token of it could go


def test_draws_stay_in_the_nucleus_and_follow_its_probabilities():
    B = 4000
    enc = EncoderOutput(torch.zeros(B, 0, 1), torch.zeros(B, 0, dtype=torch.bool), torch.zeros(B, 1))
    for kw in ({"top_p": 0.7}, {"top_k": 2}):
        hyp = sample(Fixed(), enc, torch.full((B,), 5), generator=torch.Generator().manual_seed(0), **kw)
        first = [t[0][0] for t in hyp.tokens]
        assert set(first) == {4, 5}
        assert first.count(4) / B == pytest.approx(0.5 / 0.8, abs=0.03)
        assert hyp.scores[0][0] == pytest.approx(math.log(PROBS[first[0]]), abs=1e-5)  # the model's own log-prob


def test_sampling_without_filters_draws_every_token():
    B = 4000
    enc = EncoderOutput(torch.zeros(B, 0, 1), torch.zeros(B, 0, dtype=torch.bool), torch.zeros(B, 1))
    first = [t[0][0] for t in sample(Fixed(), enc, torch.full((B,), 5), generator=torch.Generator().manual_seed(1)).tokens]
    for tok, p in PROBS.items():
        assert first.count(tok) / B == pytest.approx(p, abs=0.03)
