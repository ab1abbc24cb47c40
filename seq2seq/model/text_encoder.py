"""Text encoder: embeddings -> optional deep-input layer -> stacked (bi)RNN/LSTM/GRU with skip connections."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq.data.tokenizer import PAD
from seq2seq.model.interface import EncoderOutput
from seq2seq.model.rnn import WordDropout, make_rnn


class TextEncoder(nn.Module):
    """Each layer is its own RNN so that residual connections and dropout can sit between layers.

    Returns memory of size `hidden` (both directions concatenated) and, as the summary for the decoder's
    initial state, the top layer's final states (forward last step, backward first step) concatenated.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden: int, layers: int, cell: str = "lstm",
                 bidirectional: bool = True, dropout: float = 0.3, emb_dropout: float = 0.3,
                 residual: bool = True, deep_input: bool = False, embedding: nn.Embedding | None = None,
                 word_dropout: float = 0.0):
        super().__init__()
        self.embedding = embedding if embedding is not None else nn.Embedding(vocab_size, emb_dim, padding_idx=PAD)
        self.emb_dropout = nn.Dropout(emb_dropout)
        self.word_dropout = WordDropout(word_dropout)
        self.deep_input = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.Tanh()) if deep_input else None
        per_dir = hidden // 2 if bidirectional else hidden
        self.layers = nn.ModuleList(
            make_rnn(cell, emb_dim if i == 0 else hidden, per_dir, bidirectional) for i in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.residual = residual
        self.cell = cell
        self.hidden = hidden
        self.output_dim = hidden

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """src (B, S) ids, lengths (B,) -> EncoderOutput(memory (B, S, H), mask (B, S), init_state (B, H))."""
        mask = src != PAD  # (B, S)
        x = self.emb_dropout(self.word_dropout(self.embedding(src), src))  # (B, S, E)
        if self.deep_input is not None:
            x = self.deep_input(x)
        lengths_cpu = lengths.cpu()
        final = None
        for i, rnn in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)
            packed = pack_padded_sequence(x, lengths_cpu, batch_first=True, enforce_sorted=False)
            out, h = rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))  # (B, S, H)
            x = out + x if (self.residual and i > 0) else out
            final = h[0] if isinstance(h, tuple) else h  # (dirs, B, H/dirs)
        summary = final.transpose(0, 1).reshape(src.size(0), -1)  # (B, H)
        return EncoderOutput(memory=x, mask=mask, init_state=summary)
