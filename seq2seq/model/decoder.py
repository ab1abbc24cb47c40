"""The shared attention decoder: stacked RNN/LSTM/GRU, attention over any encoder's memory, input feeding,
deep output and (optionally tied) softmax projection. It sees encoders only through `EncoderOutput`.

This is the plain model, the definition of a step; `seq2seq.decode.fast` computes the same step faster for
decoding, behind the same signature.
"""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.data.tokenizer import PAD
from seq2seq.model.attention import Attention
from seq2seq.model.interface import DecoderState, EncoderOutput
from seq2seq.model.rnn import WordDropout, make_rnn

CELL_STEP = {"gru": torch.gru_cell, "rnn": torch.rnn_tanh_cell}  # LSTM's cell also carries c


def cell_step(kind: str, rnn: nn.Module, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None):
    """One step of a one-layer torch RNN module on its own weights: x (B, in), h and c (B, H) -> new h, c."""
    w = (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
    if kind == "lstm":
        return torch.lstm_cell(x, (h, c), *w)
    return CELL_STEP[kind](x, h, *w), None


class Decoder(nn.Module):
    columns = None  # the logits' columns are the whole target vocabulary (see model.interface.Stepper)

    def __init__(self, vocab_size: int, emb_dim: int, hidden: int, layers: int, memory_dim: int, init_dim: int,
                 cell: str = "lstm", attention: str = "bahdanau", attn_dim: int = 0, input_feeding: bool = True,
                 deep_output: bool = True, dropout: float = 0.3, emb_dropout: float = 0.3, residual: bool = True,
                 tie_embeddings: bool = True, embedding: nn.Embedding | None = None, word_dropout: float = 0.0):
        super().__init__()
        self.embedding = embedding if embedding is not None else nn.Embedding(vocab_size, emb_dim, padding_idx=PAD)
        self.emb_dropout = nn.Dropout(emb_dropout)
        self.word_dropout = WordDropout(word_dropout)  # teacher forcing only
        self.cell, self.hidden, self.num_layers = cell, hidden, layers
        self.out_dim = emb_dim if tie_embeddings else hidden  # size of the attentional vector fed to the softmax
        self.input_feeding = input_feeding
        first_in = emb_dim + (self.out_dim if input_feeding else 0)
        self.layers = nn.ModuleList(make_rnn(cell, first_in if i == 0 else hidden, hidden) for i in range(layers))
        self.residual = residual
        self.dropout = nn.Dropout(dropout)
        n_states = 2 if cell == "lstm" else 1
        self.bridge = nn.Linear(init_dim, layers * hidden * n_states)
        self.attention = Attention(attention, hidden, memory_dim, attn_dim) if attention != "none" else None
        self.combine = nn.Linear(hidden + (memory_dim if self.attention else 0), self.out_dim)
        self.deep_output = deep_output
        self.output = nn.Linear(self.out_dim, vocab_size)
        if tie_embeddings:
            self.output.weight = self.embedding.weight

    def init_state(self, enc: EncoderOutput) -> DecoderState:
        """Initial hidden (and cell) state of every layer from the encoder's summary vector."""
        B = enc.init_state.size(0)
        s = torch.tanh(self.bridge(enc.init_state))  # (B, n_states * L * H)
        s = s.view(B, -1, self.num_layers, self.hidden).permute(1, 2, 0, 3).contiguous()  # (n_states, L, B, H)
        cell = s[1] if self.cell == "lstm" else None
        feed = enc.memory.new_zeros(B, self.out_dim) if self.input_feeding else None
        return DecoderState(hidden=s[0], cell=cell, feed=feed)

    def precompute(self, enc: EncoderOutput) -> torch.Tensor | None:
        """Attention keys, projected once per source; pass them to every `step`."""
        return self.attention.precompute(enc.memory) if self.attention is not None else None

    def run_layers(self, x: torch.Tensor, state: DecoderState):
        """The layer stack. x (B, in) is one step, x (B, T, in) a whole sequence (each layer's RNN kernel)
        -> top output (B, [T,] H), new hidden and cell (L, B, H). Residual connections from layer 2 up."""
        hs, cs = [], []
        for i, rnn in enumerate(self.layers):
            c0 = state.cell[i] if self.cell == "lstm" else None
            if x.dim() == 2:  # a step: the cell function on the layer's own weights
                out, c = cell_step(self.cell, rnn, x, state.hidden[i], c0)
                h = out
            elif self.cell == "lstm":
                out, (h, c) = rnn(x, (state.hidden[i : i + 1], c0.unsqueeze(0)))
                h, c = h[0], c[0]
            else:
                out, h = rnn(x, state.hidden[i : i + 1])
                h, c = h[0], None
            hs.append(h)
            cs.append(c)
            x = out + x if (self.residual and i > 0) else out
            if i < self.num_layers - 1:
                x = self.dropout(x)
        return x, torch.stack(hs), (torch.stack(cs) if self.cell == "lstm" else None)

    def attend(self, h: torch.Tensor, enc: EncoderOutput, keys: torch.Tensor | None, group: int = 1):
        """Top states (B, T, H) -> [state; context] (B, T, H + D) and attention weights (B, T, S), or the states
        and None without attention. enc has B / group rows: each serves `group` consecutive rows of h (the beams
        of a sentence), which attend together, so each memory is read once, not once per beam."""
        if self.attention is None:
            return h, None
        B, T, H = h.shape
        q = h.reshape(B // group, group * T, H)  # (n, group * T, H)
        context, attn = self.attention(q, keys, enc.memory, enc.mask)  # (n, group * T, D), (n, group * T, S)
        return torch.cat([h, context.reshape(B, T, -1)], dim=-1), attn.reshape(B, T, -1)

    def attentional(self, hc: torch.Tensor) -> torch.Tensor:
        """[state; context] (B, T, H + D) -> the attentional vector (B, T, O) fed to the softmax (and fed back)."""
        o = self.combine(hc)
        return self.dropout(torch.tanh(o) if self.deep_output else o)

    def step(self, tokens: torch.Tensor, state: DecoderState, enc: EncoderOutput, keys: torch.Tensor | None,
             group: int = 1):
        """One step: previous tokens (B,) -> logits (B, V), next state, attention (B, S) or None.
        enc and keys have B / group rows, each shared by `group` consecutive rows (beam search's beams)."""
        x = self.emb_dropout(self.embedding(tokens))  # (B, E)
        if self.input_feeding:
            x = torch.cat([x, state.feed], dim=-1)
        h, hidden, cell = self.run_layers(x, state)  # (B, H)
        hc, attn = self.attend(h.unsqueeze(1), enc, keys, group)
        o = self.attentional(hc).squeeze(1)  # (B, O)
        new_state = DecoderState(hidden, cell, o if self.input_feeding else None)
        return self.output(o), new_state, (attn.squeeze(1) if attn is not None else None)

    def forward(self, tgt_in: torch.Tensor, enc: EncoderOutput) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: tgt_in (B, T) -> logits (B, T, V) and attention (B, T, S) or None."""
        keys = self.precompute(enc)
        state = self.init_state(enc)
        emb = self.emb_dropout(self.word_dropout(self.embedding(tgt_in), tgt_in))  # (B, T, E)
        if not self.input_feeding:  # no step depends on the previous output: the whole sequence at once
            h, _, _ = self.run_layers(emb, state)
            hc, attn = self.attend(h, enc, keys)
            return self.output(self.attentional(hc)), attn
        outs, attns = [], []
        for t in range(tgt_in.size(1)):
            x = torch.cat([emb[:, t], state.feed], dim=-1)  # (B, E + O)
            h, hidden, cell = self.run_layers(x, state)
            hc, attn = self.attend(h.unsqueeze(1), enc, keys)
            o = self.attentional(hc)  # (B, 1, O)
            state = DecoderState(hidden, cell, o.squeeze(1))
            outs.append(o)
            attns.append(attn)
        o = torch.cat(outs, dim=1)  # (B, T, O)
        attn = torch.cat(attns, dim=1) if self.attention is not None else None
        return self.output(o), attn  # one vocabulary projection for all steps
