"""The audio encoder: pyramidal reduction's shapes and masks, padding invariance, the EncoderOutput contract and
its CTC head."""

from __future__ import annotations

import torch

from seq2seq.model.audio_encoder import AudioEncoder, halve


def test_halve_concatenates_pairs_and_pads_an_odd_frame():
    x = torch.arange(2 * 5 * 1, dtype=torch.float).view(2, 5, 1)
    y, n = halve(x, torch.tensor([5, 4]))
    assert y.shape == (2, 3, 2) and n.tolist() == [3, 2]
    assert y[0].tolist() == [[0, 1], [2, 3], [4, 0]]


def make(reductions=2, cell="lstm", layers=3):
    torch.manual_seed(0)
    return AudioEncoder(n_feats=6, hidden=8, layers=layers, vocab_size=5, cell=cell, reductions=reductions,
                        dropout=0.0).eval()


def test_shapes_and_masks_follow_the_reductions():
    enc = make()
    out = enc(torch.randn(3, 17, 6), torch.tensor([17, 9, 4]))
    assert out.memory.shape == (3, 5, 8) and out.init_state.shape == (3, 8)  # 17 -> 9 -> 5
    assert out.mask.tolist() == [[True] * 5, [True] * 3 + [False] * 2, [True] + [False] * 4]  # 9 -> 5 -> 3; 4 -> 2 -> 1
    assert enc.ctc_logits(out).shape == (3, 5, 5)


def test_padding_changes_nothing():
    for cell in ("lstm", "gru"):
        enc = make(cell=cell)
        frames = [torch.randn(n, 6) for n in (13, 7, 4)]
        batch = torch.zeros(3, 13, 6)
        for i, f in enumerate(frames):
            batch[i, : len(f)] = f
        together = enc(batch, torch.tensor([13, 7, 4]))
        for i, f in enumerate(frames):
            alone = enc(f.unsqueeze(0), torch.tensor([len(f)]))
            n = alone.memory.size(1)
            assert torch.allclose(together.memory[i, :n], alone.memory[0], atol=1e-6)
            assert torch.allclose(together.init_state[i], alone.init_state[0], atol=1e-6)
            assert not together.mask[i, n:].any()


def test_no_reduction_keeps_the_frame_rate():
    out = make(reductions=0, layers=2)(torch.randn(2, 6, 6), torch.tensor([6, 3]))
    assert out.memory.shape == (2, 6, 8) and out.mask.sum(1).tolist() == [6, 3]
