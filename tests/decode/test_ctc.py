"""CTC decoding against hand-computed cases and brute force over every alignment of a tiny alphabet; the loss
(torch's CTCLoss) agrees with the same enumeration."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from seq2seq.decode.ctc import BLANK, collapse, greedy, prefix_beam


def test_collapse_merges_runs_then_drops_blanks():
    assert collapse([1, 1, 0, 1, 2]) == [1, 1, 2]
    assert collapse([0, 0, 0]) == []
    assert collapse([2, 2, 2]) == [2]
    assert collapse([1, 0, 0, 1]) == [1, 1]


def test_greedy_takes_the_best_path_of_each_row_within_its_length():
    p = torch.tensor([[[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05], [0.1, 0.1, 0.8]],
                      [[0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1]]]).log()
    assert greedy(p, torch.tensor([4, 3])) == [[1, 2], [2, 2]]  # row 2's last frame is padding


def brute_force(logprobs: torch.Tensor) -> dict[tuple, float]:
    """Every label sequence's probability, summed over all V^T alignments (log)."""
    T, V = logprobs.shape
    total: dict[tuple, float] = {}
    for path in itertools.product(range(V), repeat=T):
        lp = sum(float(logprobs[t, s]) for t, s in enumerate(path))
        key = tuple(collapse(list(path)))
        total[key] = math.log(math.exp(total[key]) + math.exp(lp)) if key in total else lp
    return total


def test_two_frames_by_hand():
    # frames: p(blank, a) = (0.6, 0.4) then (0.3, 0.7). "a" = a_ + _a + aa = 0.4*0.3 + 0.6*0.7 + 0.4*0.7 = 0.82
    lp = torch.tensor([[0.6, 0.4], [0.3, 0.7]]).log()
    best = prefix_beam(lp, beam=4)
    assert [p for p, _ in best] == [[1], []]
    assert math.exp(best[0][1]) == pytest.approx(0.82) and math.exp(best[1][1]) == pytest.approx(0.18)


@pytest.mark.parametrize("seed", range(5))
def test_prefix_beam_equals_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    lp = torch.log_softmax(torch.randn(5, 3, generator=g) * 2, -1)  # 5 frames, blank + 2 tokens: 243 paths
    truth = brute_force(lp)
    found = prefix_beam(lp, beam=1000, prune=float("-inf"))  # a beam wide enough to keep every prefix
    assert {tuple(p): s for p, s in found} == pytest.approx(truth)
    assert tuple(prefix_beam(lp, beam=4)[0][0]) == max(truth, key=truth.get)


@pytest.mark.parametrize("seed", range(3))
def test_ctc_loss_is_minus_the_enumerated_log_probability(seed):
    g = torch.Generator().manual_seed(seed)
    lp = torch.log_softmax(torch.randn(5, 3, generator=g), -1)
    truth = brute_force(lp)
    for label in ([1], [1, 1], [2, 1], [1, 2, 1]):
        loss = torch.nn.functional.ctc_loss(lp.unsqueeze(1), torch.tensor([label]), torch.tensor([5]),
                                            torch.tensor([len(label)]), blank=BLANK, reduction="sum")
        assert -float(loss) == pytest.approx(truth[tuple(label)], rel=1e-5)
