"""Audio encoder for speech recognition: a stacked bidirectional RNN over feature frames with pyramidal time
reduction (Listen, Attend and Spell's pBLSTM: before a reducing layer, each pair of adjacent frames is
concatenated, halving the length), and a CTC head over its memory (Graves & Jaitly 2014; joint CTC-attention,
Watanabe et al. 2017). It returns the same `EncoderOutput` as the text and image encoders, so the shared decoder,
attention, beam search, ensembles and fusion work unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq.model.interface import EncoderOutput
from seq2seq.model.rnn import make_rnn


def halve(x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Adjacent frames concatenated: x (B, T, H) -> (B, ceil(T/2), 2H), lengths -> ceil(lengths / 2). An odd
    frame count gets one zero frame, as padding does: a padded batch reduces each row as it reduces alone."""
    B, T, H = x.shape
    if T % 2:
        x = torch.cat([x, x.new_zeros(B, 1, H)], dim=1)
    return x.reshape(B, (T + 1) // 2, 2 * H), (lengths + 1) // 2


class AudioEncoder(nn.Module):
    """frames (B, T, F) -> memory (B, T / 2**reductions, hidden). Layer 1 reads the frames; each of the next
    `reductions` layers reads pairs of the previous layer's outputs; later layers keep the rate, with skip
    connections (model.residual) where input and output sizes match."""

    def __init__(self, n_feats: int, hidden: int, layers: int, vocab_size: int, cell: str = "lstm",
                 bidirectional: bool = True, dropout: float = 0.3, reductions: int = 2, residual: bool = True):
        super().__init__()
        if not 0 <= reductions < layers:
            raise ValueError("need 0 <= reductions < layers: the first layer reads the frames themselves")
        per_dir = hidden // 2 if bidirectional else hidden
        self.reduces = [0 < i <= reductions for i in range(layers)]  # which layers read halved sequences
        self.layers = nn.ModuleList(
            make_rnn(cell, n_feats if i == 0 else (2 * hidden if self.reduces[i] else hidden), per_dir, bidirectional)
            for i in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.residual = residual
        self.output_dim = hidden
        self.ctc = nn.Linear(hidden, vocab_size)  # CTC's blank is PAD (id 0): never a target token

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """frames (B, T, F) float, lengths (B,) -> EncoderOutput(memory (B, T', H), mask (B, T'), init_state (B, H))."""
        x, lengths = frames, lengths.cpu()
        final = None
        for i, rnn in enumerate(self.layers):
            if i > 0:
                x = self.dropout(x)
            if self.reduces[i]:
                x, lengths = halve(x, lengths)
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, h = rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))  # (B, T', H)
            x = out + x if (self.residual and i > 0 and not self.reduces[i]) else out
            final = h[0] if isinstance(h, tuple) else h  # (dirs, B, H/dirs)
        mask = torch.arange(x.size(1)).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T')
        summary = final.transpose(0, 1).reshape(x.size(0), -1)  # (B, H)
        return EncoderOutput(memory=x, mask=mask.to(x.device), init_state=summary)

    def ctc_logits(self, enc: EncoderOutput) -> torch.Tensor:
        """Per memory frame, scores of every token and the blank (B, T', V); padded frames are for the loss to skip."""
        return self.ctc(enc.memory)
