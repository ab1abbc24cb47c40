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


def test_config_builds_a_speech_model_whose_parts_fit():
    from seq2seq.config import from_dict
    from seq2seq.errors import UserError
    from seq2seq.model import build_model

    cfg = from_dict({"model": {"encoder": "audio", "enc_layers": 3, "reductions": 2, "hidden": 16, "emb_dim": 8,
                               "dec_layers": 1}, "train": {"ctc_weight": 0.5, "valid_metric": "wer"}})
    assert cfg.task == "transcribe"
    model = build_model(cfg.model, 10, 10)
    enc = model.encode(torch.randn(2, 50, 39), torch.tensor([50, 30]))
    assert enc.memory.shape == (2, 13, 16) and model.encoder.ctc_logits(enc).shape == (2, 13, 10)
    logits, attn = model(torch.randn(2, 50, 39), torch.tensor([50, 30]), torch.zeros(2, 4, dtype=torch.long))
    assert logits.shape == (2, 4, 10) and attn.shape == (2, 4, 13)
    for bad, says in ((dict(model={"encoder": "audio", "enc_layers": 2, "reductions": 2}), "model.reductions"),
                      (dict(model={"encoder": "audio", "enc_layers": 3, "audio_features": 13}), "model.audio_features=13"),
                      (dict(train={"ctc_weight": 0.3}), "for speech"), (dict(train={"valid_metric": "wer"}), "for speech")):
        try:
            from_dict(bad)
        except UserError as e:
            assert says in str(e)
        else:
            raise AssertionError(f"{bad} was accepted")
