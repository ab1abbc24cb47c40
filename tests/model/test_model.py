"""Model: shapes, masks, padding invariance, the encoder/decoder contract, and each architectural option."""

import itertools

import pytest
import torch

from seq2seq.data.batching import collate
from seq2seq.config import ModelConfig
from seq2seq.model import DecoderState, EncoderOutput, build_model
from seq2seq.model.attention import Attention
from seq2seq.model.build import count_parameters
from seq2seq.data.tokenizer import BOS, PAD

V = 11


def _model(**kw) -> torch.nn.Module:
    base = dict(emb_dim=8, hidden=12, enc_layers=2, dec_layers=2, dropout=0.0, emb_dropout=0.0)
    return build_model(ModelConfig(**{**base, **kw}), V, V).eval()


def _batch():
    src = [[5, 6, 7, 8, 9], [4, 5], [10, 4, 6]]
    tgt = [[6, 7], [8, 9, 10, 4], [5]]
    return collate(src, tgt)


@pytest.mark.parametrize("cell,attention,input_feeding", [
    (c, a, f) for c, a, f in itertools.product(("lstm", "gru", "rnn"), ("bahdanau", "dot", "general", "none"),
                                               (True, False)) if not (a == "none" and f)])
def test_shapes_every_cell_and_attention(cell, attention, input_feeding):
    m = _model(cell=cell, attention=attention, input_feeding=input_feeding)
    b = _batch()
    enc = m.encode(b.src, b.src_lengths)
    B, S = b.src.shape
    assert enc.memory.shape == (B, S, 12) and enc.mask.shape == (B, S) and enc.init_state.shape == (B, 12)
    assert torch.equal(enc.mask, b.src != PAD)
    logits, attn = m(b.src, b.src_lengths, b.tgt_in)
    T = b.tgt_in.size(1)
    assert logits.shape == (B, T, V)
    if attention == "none":
        assert attn is None
    else:
        assert attn.shape == (B, T, S)
        assert torch.allclose(attn.sum(-1), torch.ones(B, T), atol=1e-5)
        assert (attn.masked_select(~enc.mask.unsqueeze(1).expand_as(attn)) == 0).all()  # padding gets nothing


@pytest.mark.parametrize("kind", ["bahdanau", "dot", "general"])
def test_attention_ignores_padding_values(kind):
    """Changing what sits in padded memory positions must not change the context."""
    att = Attention(kind, 6, 6)
    memory = torch.randn(2, 5, 6)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    q = torch.randn(2, 6)
    ctx1, w1 = att(q, att.precompute(memory), memory, mask)
    memory2 = memory.clone()
    memory2[0, 3:] = 100.0
    ctx2, w2 = att(q, att.precompute(memory2), memory2, mask)
    assert torch.allclose(ctx1, ctx2) and torch.allclose(w1, w2)
    assert (w1[0, 3:] == 0).all()


def test_dot_attention_hand_computed():
    att = Attention("dot", 2, 2)
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    q = torch.tensor([[2.0, 0.0]])
    ctx, w = att(q, att.precompute(memory), memory, torch.ones(1, 2, dtype=torch.bool))
    e = torch.tensor(2.0).exp()
    assert torch.allclose(w, torch.tensor([[e / (e + 1), 1 / (e + 1)]]))
    assert torch.allclose(ctx, w)  # memory is the identity


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_padding_invariance_teacher_forcing(cell):
    """A sentence scores the same alone and inside a padded batch."""
    m = _model(cell=cell, attention="bahdanau")
    b = _batch()
    logits, _ = m(b.src, b.src_lengths, b.tgt_in)
    for i in range(3):
        one = collate([b.src[i, : b.src_lengths[i] - 1].tolist()], [b.tgt_out[i][b.tgt_out[i] > 3].tolist()])
        alone, _ = m(one.src, one.src_lengths, one.tgt_in)
        T = one.tgt_in.size(1)
        assert torch.allclose(alone[0], logits[i, :T], atol=1e-5)


@pytest.mark.parametrize("cell,feeding", [("lstm", True), ("lstm", False), ("gru", False), ("rnn", True)])
def test_step_matches_forward(cell, feeding):
    """Step-by-step decoding (fused cell kernels) gives the teacher-forced logits (whole-sequence RNN kernels
    when there is no input feeding): state, input feeding and residual connections carried right."""
    m = _model(cell=cell, attention="general", input_feeding=feeding)
    b = _batch()
    full, full_attn = m(b.src, b.src_lengths, b.tgt_in)
    enc = m.encode(b.src, b.src_lengths)
    keys, state = m.decoder.precompute(enc), m.decoder.init_state(enc)
    for t in range(b.tgt_in.size(1)):
        logits, state, attn = m.decoder.step(b.tgt_in[:, t], state, enc, keys)
        assert torch.allclose(logits, full[:, t], atol=1e-5)
        assert torch.allclose(attn, full_attn[:, t], atol=1e-6)


def test_select_reorders_structures():
    enc = EncoderOutput(torch.arange(6.0).view(3, 2, 1), torch.ones(3, 2, dtype=torch.bool), torch.arange(3.0)[:, None])
    idx = torch.tensor([2, 2, 0])
    sel = enc.select(idx)
    assert sel.memory[:, 0, 0].tolist() == [4.0, 4.0, 0.0] and sel.init_state[:, 0].tolist() == [2.0, 2.0, 0.0]
    st = DecoderState(torch.arange(6.0).view(2, 3, 1), None, torch.arange(3.0)[:, None])
    s2 = st.select(idx)
    assert s2.hidden[1, :, 0].tolist() == [5.0, 5.0, 3.0] and s2.cell is None and s2.feed[:, 0].tolist() == [2, 2, 0]


def test_tied_and_shared_embeddings():
    m = _model(tie_embeddings=True, share_embeddings=True)
    assert m.decoder.output.weight is m.decoder.embedding.weight is m.encoder.embedding.weight
    untied = _model(tie_embeddings=False, share_embeddings=False)
    assert count_parameters(untied) > count_parameters(m)


def test_options_change_the_network():
    """Deep input adds a layer; residual connections change outputs but not shapes; bidirectional halves per-dir size."""
    base = _model()
    assert _model(deep_input=True).encoder.deep_input is not None and base.encoder.deep_input is None
    torch.manual_seed(0)
    a = _model(residual=True)
    b_ = _model(residual=False)
    b_.load_state_dict(a.state_dict())
    bt = _batch()
    assert not torch.allclose(a(bt.src, bt.src_lengths, bt.tgt_in)[0], b_(bt.src, bt.src_lengths, bt.tgt_in)[0])
    uni = _model(bidirectional=False)
    assert uni.encoder.layers[0].hidden_size == 12 and base.encoder.layers[0].hidden_size == 6


def test_dropout_only_in_training():
    m = _model(dropout=0.5, emb_dropout=0.5)
    b = _batch()
    m.eval()
    assert torch.equal(m(b.src, b.src_lengths, b.tgt_in)[0], m(b.src, b.src_lengths, b.tgt_in)[0])
    m.train()
    assert not torch.equal(m(b.src, b.src_lengths, b.tgt_in)[0], m(b.src, b.src_lengths, b.tgt_in)[0])


def test_decoder_sees_only_encoder_output():
    """Any module returning EncoderOutput plugs into the decoder: a fake 'image' memory of 4 cells works."""
    m = _model(attention="bahdanau")
    B, S, D = 2, 4, 12
    enc = EncoderOutput(torch.randn(B, S, D), torch.ones(B, S, dtype=torch.bool), torch.randn(B, D))
    logits, attn = m.decoder(torch.full((B, 3), BOS), enc)
    assert logits.shape == (B, 3, V) and attn.shape == (B, 3, S)


def test_word_dropout_zeroes_whole_token_embeddings_in_training_only():
    from seq2seq.model.rnn import WordDropout

    torch.manual_seed(0)
    wd = WordDropout(0.3)
    tokens = torch.randint(4, 50, (40, 50))
    emb = torch.randn(40, 50, 8) + 5.0  # no zero entries of its own
    out = wd.train()(emb, tokens)
    zeroed = (out == 0).all(-1)  # (B, T) whole embeddings
    assert ((out == 0) == zeroed.unsqueeze(-1)).all()  # a token is dropped whole or not at all
    assert torch.equal(out[~zeroed], emb[~zeroed])  # the rest unchanged (no rescaling)
    assert 0.25 < zeroed.float().mean().item() < 0.35
    assert torch.equal(wd.eval()(emb, tokens), emb)
    assert torch.equal(WordDropout(0.0).train()(emb, tokens), emb)


def test_word_dropout_is_in_the_model_and_off_by_default():
    m = build_model(ModelConfig(word_dropout=0.2, emb_dim=8, hidden=8, enc_layers=1, dec_layers=1), 20, 20)
    assert m.encoder.word_dropout.p == 0.2 and m.decoder.word_dropout.p == 0.2
    assert build_model(ModelConfig(emb_dim=8, hidden=8), 20, 20).encoder.word_dropout.p == 0.0
