"""Recurrent building blocks shared by the encoders and the decoder: one RNN/LSTM/GRU layer, and word dropout."""

from __future__ import annotations

import torch
from torch import nn

RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def make_rnn(cell: str, input_size: int, hidden: int, bidirectional: bool = False) -> nn.Module:
    """One recurrent layer (batch first); Elman RNN uses tanh."""
    kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
    return RNN_CLASSES[cell](input_size, hidden, num_layers=1, batch_first=True, bidirectional=bidirectional,
                             **kwargs)


class WordDropout(nn.Module):
    """In training, each token's embedding zeroed with probability p: word dropout (Gal & Ghahramani 2016), which
    helps small-data translation (Sennrich & Zhang 2019). emb (B, T, E), tokens (B, T)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, emb: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return emb
        keep = torch.rand(tokens.shape, device=tokens.device) >= self.p  # (B, T)
        return emb * keep.unsqueeze(-1).to(emb.dtype)
