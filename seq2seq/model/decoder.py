"""The shared attention decoder: stacked RNN/LSTM/GRU, attention over any encoder's memory, input feeding,
deep output and (optionally tied) softmax projection. It sees encoders only through `EncoderOutput`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seq2seq.model.attention import Attention
from seq2seq.model.interface import DecoderState, EncoderOutput
from seq2seq.model.kernels import Packed
from seq2seq.model.text_encoder import make_rnn
from seq2seq.tokenizer import BOS, PAD

CELL_STEP = {"gru": torch.gru_cell, "rnn": torch.rnn_tanh_cell}  # LSTM's cell also carries c


@dataclass
class StepCache:
    """What `Decoder.step_cache` prepares once per batch so that each search step does less."""

    output: Packed  # the output layer, cut to the shortlist when there is one
    cells: list[Packed] | None = None  # LSTM layers: [input; hidden] -> gates, biases summed (None: the plain path)
    combine: Packed | None = None  # [top state; context] -> attentional vector
    gates: torch.Tensor | None = None  # (M + 1, G) the embedding's share of the first layer's gates
    row: torch.Tensor | None = None  # (V,) row of `gates` for a token id (-1: not there)


class Decoder(nn.Module):
    def __init__(self, vocab_size: int, emb_dim: int, hidden: int, layers: int, memory_dim: int, init_dim: int,
                 cell: str = "lstm", attention: str = "bahdanau", attn_dim: int = 0, input_feeding: bool = True,
                 deep_output: bool = True, dropout: float = 0.3, emb_dropout: float = 0.3, residual: bool = True,
                 tie_embeddings: bool = True, embedding: nn.Embedding | None = None):
        super().__init__()
        self.embedding = embedding if embedding is not None else nn.Embedding(vocab_size, emb_dim, padding_idx=PAD)
        self.emb_dropout = nn.Dropout(emb_dropout)
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

    # -- state -------------------------------------------------------------------------------------------
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

    # -- computation -------------------------------------------------------------------------------------
    def _rnn(self, x: torch.Tensor, state: DecoderState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """x (B, T, in) through the stack -> top outputs (B, T, H), new hidden and cell (L, B, H).

        A single step uses the fused cell kernels on the layers' own weights: the sequence RNN kernel would
        repack its weights on every call, which dominates step-by-step decoding on a CPU.
        """
        if x.size(1) == 1 and hasattr(self.layers[0], "weight_ih_l0"):  # (int8-quantized layers have no such)
            return self._cells(x.squeeze(1), state)
        hs, cs = [], []
        for i, rnn in enumerate(self.layers):
            h0 = state.hidden[i : i + 1]
            if self.cell == "lstm":
                out, (h, c) = rnn(x, (h0, state.cell[i : i + 1]))
                cs.append(c)
            else:
                out, h = rnn(x, h0)
            hs.append(h)
            x = out + x if (self.residual and i > 0) else out
            if i < self.num_layers - 1:
                x = self.dropout(x)
        return x, torch.cat(hs), (torch.cat(cs) if cs else None)

    def _cells(self, x: torch.Tensor, state: DecoderState):
        """One step, x (B, in) -> top output (B, 1, H), hidden and cell (L, B, H)."""
        hs, cs = [], []
        for i, rnn in enumerate(self.layers):
            w = (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
            if self.cell == "lstm":
                h, c = torch.lstm_cell(x, (state.hidden[i], state.cell[i]), *w)
                cs.append(c)
            else:
                h = CELL_STEP[self.cell](x, state.hidden[i], *w)
            hs.append(h)
            x = h + x if (self.residual and i > 0) else h
            if i < self.num_layers - 1:
                x = self.dropout(x)
        return x.unsqueeze(1), torch.stack(hs), (torch.stack(cs) if cs else None)

    def _attend(self, h: torch.Tensor, enc: EncoderOutput, keys: torch.Tensor | None, combine=None):
        """Top states (B, T, H) -> attentional vectors (B, T, O) and attention weights (B, T, S) or None.

        In a step, enc may hold one memory row per group of B / len(memory) consecutive rows (the beams of a
        sentence): the group's states then attend together, and each memory is read once, not once per beam.
        """
        attn = None
        if self.attention is not None:
            B, T, H = h.shape
            n = enc.memory.size(0)
            q = h if n == B else h.reshape(n, (B // n) * T, H)  # (n, group * T, H)
            context, attn = self.attention(q, keys, enc.memory, enc.mask)  # (n, group * T, D), (n, group * T, S)
            context, attn = context.reshape(B, T, -1), attn.reshape(B, T, -1)
            h = torch.cat([h, context], dim=-1)
        o = (combine or self.combine)(h)
        if self.deep_output:
            o = torch.tanh(o)
        return self.dropout(o), attn

    @torch.inference_mode()
    def step_cache(self, vocab: torch.Tensor | None = None) -> StepCache:
        """Work done once per batch of search instead of once per step; vocab (M,): a shortlist of target ids.

        The output layer (cut to the shortlist), and for LSTM layers their weights packed for fast matmuls
        (seq2seq.model.kernels). With a shortlist, the embedding's share of the first layer's gates is computed
        for every token the search can feed back (the shortlist and BOS), so a step multiplies only the
        fed-back attentional vector and the hidden state.
        """
        out = self.output
        weight = out.weight() if callable(out.weight) else out.weight  # int8-quantized Linear: a method
        if weight.is_quantized:
            weight = weight.dequantize()
        bias = out.bias() if callable(out.bias) else out.bias
        if vocab is not None:
            weight, bias = weight[vocab], bias[vocab]
        cache = StepCache(Packed(weight, bias))
        if self.cell != "lstm" or self.training or not all(hasattr(r, "weight_ih_l0") for r in self.layers):
            return cache  # GRU, Elman RNN, int8 layers: the plain path
        cache.cells = []
        for i, rnn in enumerate(self.layers):
            w_ih = rnn.weight_ih_l0  # (G, in), G = 4 * hidden
            if i == 0 and self.input_feeding and vocab is not None:
                E = self.embedding.embedding_dim
                fed = torch.cat([torch.tensor([BOS], device=vocab.device), vocab])  # (M + 1,)
                cache.row = torch.full((self.embedding.num_embeddings,), -1, dtype=torch.long, device=vocab.device)
                cache.row[fed] = torch.arange(fed.numel(), device=vocab.device)
                cache.gates = self.embedding(fed) @ w_ih[:, :E].t()  # (M + 1, G)
                w_ih = w_ih[:, E:]
            cache.cells.append(Packed(torch.cat([w_ih, rnn.weight_hh_l0], 1), rnn.bias_ih_l0 + rnn.bias_hh_l0))
        if isinstance(self.combine, nn.Linear):
            cache.combine = Packed(self.combine.weight, self.combine.bias)
        return cache

    def _cached_cells(self, tokens: torch.Tensor, state: DecoderState, cache: StepCache):
        """One LSTM step with the cache's packed weights -> top output (B, 1, H), hidden and cell (L, B, H)."""
        extra = None
        if cache.gates is not None:  # the embedding's share is looked up; the input is the fed-back vector
            x, extra = state.feed, cache.gates[cache.row[tokens]]  # (B, O), (B, G)
        else:
            x = self.embedding(tokens)  # (B, E)
            if self.input_feeding:
                x = torch.cat([x, state.feed], dim=-1)
        hs, cs = [], []
        for i, cell in enumerate(cache.cells):
            g = cell(torch.cat([x, state.hidden[i]], dim=-1))  # (B, 4H), PyTorch's gate order i, f, g, o
            if i == 0 and extra is not None:
                g = g + extra
            gi, gf, gg, go = g.chunk(4, dim=-1)
            c = torch.sigmoid(gf) * state.cell[i] + torch.sigmoid(gi) * torch.tanh(gg)
            h = torch.sigmoid(go) * torch.tanh(c)
            hs.append(h)
            cs.append(c)
            x = h + x if (self.residual and i > 0) else h
        return x.unsqueeze(1), torch.stack(hs), torch.stack(cs)

    def step(self, tokens: torch.Tensor, state: DecoderState, enc: EncoderOutput, keys: torch.Tensor | None,
             cache: StepCache | None = None):
        """One step: previous tokens (B,) -> logits (B, V), next state, attention (B, S) or None.

        enc (and keys) may have B / g rows, each shared by g consecutive rows (beam search's beams). With a
        `step_cache` for a shortlist, logits are (B, M): scores of the shortlist's tokens only (and `tokens`
        must be in the shortlist, or BOS).
        """
        if cache is not None and cache.cells is not None:
            h, hidden, cell = self._cached_cells(tokens, state, cache)
        else:
            x = self.emb_dropout(self.embedding(tokens)).unsqueeze(1)  # (B, 1, E)
            if self.input_feeding:
                x = torch.cat([x, state.feed.unsqueeze(1)], dim=-1)
            h, hidden, cell = self._rnn(x, state)
        o, attn = self._attend(h, enc, keys, cache.combine if cache is not None else None)  # (B, 1, O)
        o = o.squeeze(1)
        new_state = DecoderState(hidden, cell, o if self.input_feeding else None)
        logits = self.output(o) if cache is None else cache.output(o)  # (B, V) or (B, M)
        return logits, new_state, (attn.squeeze(1) if attn is not None else None)

    def forward(self, tgt_in: torch.Tensor, enc: EncoderOutput) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: tgt_in (B, T) -> logits (B, T, V) and attention (B, T, S) or None."""
        keys = self.precompute(enc)
        state = self.init_state(enc)
        emb = self.emb_dropout(self.embedding(tgt_in))  # (B, T, E)
        if not self.input_feeding:  # the whole sequence in one call per layer
            h, _, _ = self._rnn(emb, state)
            o, attn = self._attend(h, enc, keys)
            return self.output(o), attn
        outs, attns = [], []
        for t in range(tgt_in.size(1)):
            x = torch.cat([emb[:, t : t + 1], state.feed.unsqueeze(1)], dim=-1)  # (B, 1, E + O)
            h, hidden, cell = self._rnn(x, state)
            o, attn = self._attend(h, enc, keys)  # (B, 1, O)
            state = DecoderState(hidden, cell, o.squeeze(1))
            outs.append(o)
            attns.append(attn)
        o = torch.cat(outs, dim=1)  # (B, T, O)
        attn = torch.cat(attns, dim=1) if self.attention is not None else None
        return self.output(o), attn  # one vocabulary projection for all steps
