"""Linear layers for step-by-step decoding on a CPU, with weights packed once per batch for oneDNN.

On x86 CPUs oneDNN's packed float32 matmul runs the decoder's shapes 1.1-2x faster than the BLAS call
behind `torch.nn.functional.linear` (measured on this project's 2-core AMD EPYC, bench/gemm.py). The result is
the same float32 product; where oneDNN is missing (or on CUDA), `Packed` is a plain linear layer.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def _onednn_ok(weight: torch.Tensor) -> bool:
    ops = torch.ops.mkldnn
    return (weight.device.type == "cpu" and weight.dtype == torch.float32 and torch.backends.mkldnn.is_available()
            and hasattr(ops, "_reorder_linear_weight") and hasattr(ops, "_linear_pointwise"))


class Packed:
    """y = x @ weight.T + bias, weight (N, K) packed for oneDNN once; rows of x may vary call to call."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, rows: int = 256):
        self.weight, self.bias, self.packed = weight, bias, None
        if _onednn_ok(weight):
            try:
                self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.contiguous(), rows)
            except RuntimeError:  # an unsupported build or shape: the plain path
                self.packed = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed is not None and x.dtype == torch.float32 and x.device.type == "cpu":
            return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.packed, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)
