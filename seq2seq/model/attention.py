"""Attention: Bahdanau (additive) and Luong dot / general.

Stateless: the module holds only weights. Keys are projected once per source with `precompute`, then every
decoder step calls `forward(query, keys, memory, mask)`. Padding gets exactly zero weight.
"""

from __future__ import annotations

import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, kind: str, query_dim: int, memory_dim: int, attn_dim: int = 0):
        super().__init__()
        if kind not in ("bahdanau", "dot", "general"):
            raise ValueError(f"unknown attention {kind!r}")
        if kind == "dot" and query_dim != memory_dim:
            raise ValueError(f"dot attention needs equal query and memory sizes ({query_dim} != {memory_dim})")
        self.kind = kind
        if kind == "bahdanau":
            attn_dim = attn_dim or query_dim
            self.key_proj = nn.Linear(memory_dim, attn_dim, bias=False)
            self.query_proj = nn.Linear(query_dim, attn_dim, bias=True)
            self.v = nn.Linear(attn_dim, 1, bias=False)
        elif kind == "general":
            self.key_proj = nn.Linear(memory_dim, query_dim, bias=False)

    def precompute(self, memory: torch.Tensor) -> torch.Tensor:
        """(B, S, D) memory -> keys: (B, S, A) for bahdanau, (B, S, Q) for general, the memory itself for dot."""
        return memory if self.kind == "dot" else self.key_proj(memory)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, T, Q) or (B, Q) -> context (B, [T,] D) and weights (B, [T,] S)."""
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)  # (B, 1, Q)
        if self.kind == "bahdanau":
            q = self.query_proj(query)  # (B, T, A)
            scores = self.v(torch.tanh(q.unsqueeze(2) + keys.unsqueeze(1))).squeeze(-1)  # (B, T, S)
        else:
            scores = torch.bmm(query, keys.transpose(1, 2))  # (B, T, S)
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores.float(), dim=-1).to(memory.dtype)  # (B, T, S)
        context = torch.bmm(weights, memory)  # (B, T, D)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights
