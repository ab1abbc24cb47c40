"""The decoding engine: `FastStep` computes `Decoder.step` for inference with less work per step, behind the same
signature, falling back to the plain step's parts where it cannot help.

What it does once per batch instead of once per step: the output layer cut to a lexical shortlist (and an int8
model's output weights dequantized); an LSTM's weights packed for oneDNN's float32 matmul (seq2seq.decode.kernels),
the combine layer too; and with a shortlist, the embedding's share of the first LSTM layer's gates, computed for
every token the search can feed back. Tested equal to the plain step (tests/decode/test_fast.py).
"""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.data.tokenizer import BOS
from seq2seq.decode.kernels import Packed
from seq2seq.model.decoder import Decoder
from seq2seq.model.interface import DecoderState, EncoderOutput

FLOAT_RNNS = (nn.LSTM, nn.GRU, nn.RNN)  # int8-quantized layers are other classes: they run as modules


def _output_layer(linear: nn.Module, columns: torch.Tensor | None) -> Packed:
    """The output projection (an int8 one dequantized) restricted to `columns`, packed."""
    weight = linear.weight() if callable(linear.weight) else linear.weight  # int8 Linear: weight() is a method
    if weight.is_quantized:
        weight = weight.dequantize()
    bias = linear.bias() if callable(linear.bias) else linear.bias
    if columns is not None:
        weight, bias = weight[columns], bias[columns]
    return Packed(weight, bias)


class _PackedLSTM:
    """A float LSTM stack's step with [input; hidden] -> gates in one packed matmul per layer (biases summed).

    With a shortlist and input feeding, the first layer's gates from the token embedding are a table lookup:
    `gates` (M + 1, G) for the shortlist's tokens and BOS, `row` (V,) maps a token id to its row."""

    def __init__(self, d: Decoder, columns: torch.Tensor | None):
        self.decoder = d
        self.gates = self.row = None
        self.cells = []
        for i, rnn in enumerate(d.layers):
            w_ih = rnn.weight_ih_l0  # (G, in), G = 4 * hidden
            if i == 0 and d.input_feeding and columns is not None:
                E = d.embedding.embedding_dim
                fed = torch.cat([torch.tensor([BOS], device=columns.device), columns])  # (M + 1,)
                self.row = torch.full((d.embedding.num_embeddings,), -1, dtype=torch.long, device=columns.device)
                self.row[fed] = torch.arange(fed.numel(), device=columns.device)
                self.gates = d.embedding(fed) @ w_ih[:, :E].t()  # (M + 1, G)
                w_ih = w_ih[:, E:]
            self.cells.append(Packed(torch.cat([w_ih, rnn.weight_hh_l0], 1), rnn.bias_ih_l0 + rnn.bias_hh_l0))
        self.combine = Packed(d.combine.weight, d.combine.bias)

    def __call__(self, tokens: torch.Tensor, state: DecoderState):
        """Previous tokens (B,) -> top output (B, 1, H), hidden and cell (L, B, H)."""
        d, extra = self.decoder, None
        if self.gates is not None:  # the embedding's share is looked up; the input is the fed-back vector
            x, extra = state.feed, self.gates[self.row[tokens]]  # (B, O), (B, G)
        else:
            x = d.embedding(tokens)  # (B, E)
            if d.input_feeding:
                x = torch.cat([x, state.feed], dim=-1)
        hs, cs = [], []
        for i, cell in enumerate(self.cells):
            g = cell(torch.cat([x, state.hidden[i]], dim=-1))  # (B, 4H), PyTorch's gate order i, f, g, o
            if i == 0 and extra is not None:
                g = g + extra
            gi, gf, gg, go = g.chunk(4, dim=-1)
            c = torch.sigmoid(gf) * state.cell[i] + torch.sigmoid(gi) * torch.tanh(gg)
            h = torch.sigmoid(go) * torch.tanh(c)
            hs.append(h)
            cs.append(c)
            x = h + x if (d.residual and i > 0) else h
        return x.unsqueeze(1), torch.stack(hs), torch.stack(cs)


class FastStep:
    """`decoder.step` for decoding, prepared once per batch; `columns` (M,): a shortlist of target ids whose
    scores are the logits' columns (None: the whole vocabulary). Fed-back tokens must be in it, or BOS."""

    def __init__(self, decoder: Decoder, columns: torch.Tensor | None = None):
        self.decoder, self.columns = decoder, columns
        with torch.inference_mode():
            self.output = _output_layer(decoder.output, columns)
            fast_lstm = (decoder.cell == "lstm" and not decoder.training and isinstance(decoder.combine, nn.Linear)
                         and all(isinstance(r, nn.LSTM) for r in decoder.layers))
            self.lstm = _PackedLSTM(decoder, columns) if fast_lstm else None
        self.float_layers = all(isinstance(r, FLOAT_RNNS) for r in decoder.layers)

    def precompute(self, enc: EncoderOutput) -> torch.Tensor | None:
        return self.decoder.precompute(enc)

    def init_state(self, enc: EncoderOutput) -> DecoderState:
        return self.decoder.init_state(enc)

    def _layers(self, tokens: torch.Tensor, state: DecoderState):
        """The plain step's embedding and layer stack -> top output (B, 1, H), hidden, cell."""
        d = self.decoder
        x = d.emb_dropout(d.embedding(tokens))  # (B, E)
        if d.input_feeding:
            x = torch.cat([x, state.feed], dim=-1)
        if self.float_layers:
            h, hidden, cell = d.run_layers(x, state)
            return h.unsqueeze(1), hidden, cell
        return d.run_layers(x.unsqueeze(1), state)  # int8 layers: their own (quantized) sequence kernels

    def step(self, tokens: torch.Tensor, state: DecoderState, enc: EncoderOutput, keys: torch.Tensor | None,
             group: int = 1):
        """As `Decoder.step`: previous tokens (B,) -> logits (B, V) or (B, M), next state, attention (B, S)."""
        d = self.decoder
        if self.lstm is not None:
            h, hidden, cell = self.lstm(tokens, state)
        else:
            h, hidden, cell = self._layers(tokens, state)
        hc, attn = d.attend(h, enc, keys, group)  # (B, 1, H + D)
        if self.lstm is not None:
            o = self.lstm.combine(hc)
            o = torch.tanh(o) if d.deep_output else o
        else:
            o = d.attentional(hc)
        o = o.squeeze(1)  # (B, O)
        new_state = DecoderState(hidden, cell, o if d.input_feeding else None)
        return self.output(o), new_state, (attn.squeeze(1) if attn is not None else None)
