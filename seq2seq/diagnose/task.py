"""The diagnostic's pieces: the marked-recall task, the recurrent classifiers with their gate initialisations,
and the measurement of ||dL/dh_k|| against the distance T-1-k.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn
from torch.nn import functional as F

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
INITS = ("default", "chrono", "forget1", "gain")


def recall_batch(gen: torch.Generator, length: int, batch: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The marked-recall task: x (T, B, classes + 1), y (B,). Every step shows a one-hot symbol drawn uniformly
    from `classes`; only step 0 also sets the marker channel (the last), and its symbol is the label y, to be
    named from the hidden state at step T-1, T-1 steps later. The other symbols are distractors from the same
    alphabet, so a network can only succeed by storing what it saw when the marker was on."""
    y = torch.randint(0, classes, (batch,), generator=gen)
    tokens = torch.randint(0, classes, (length, batch), generator=gen)  # (T, B)
    tokens[0] = y
    x = F.one_hot(tokens, classes + 1).float()  # (T, B, classes + 1); channel `classes` is the marker
    x[0, :, classes] = 1.0
    return x, y


class Recurrent(nn.Module):
    """One torch.nn.RNN (tanh) / LSTM / GRU layer over the inputs, a linear classifier on the last hidden state.

    init: "default" (PyTorch's), "chrono" (Tallec & Ollivier 2018: the LSTM's forget-gate biases drawn as
    log U(1, horizon - 1) and its input-gate biases their negatives; the GRU's update-gate biases drawn the same
    way, so both cells start out keeping their state for up to `horizon` steps), "forget1" (LSTM forget-gate
    bias 1, as this package's translation models start), "gain" (an Elman RNN whose recurrent weights are drawn
    from N(0, gain^2 / H): large enough for gradients to explode)."""

    def __init__(self, cell: str, inputs: int, classes: int, hidden: int, init: str = "default",
                 horizon: int = 100, gain: float = 1.0):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"init {init!r} is not one of {INITS}")
        self.cell = cell
        self.rnn = CELLS[cell](inputs, hidden)
        self.head = nn.Linear(hidden, classes)
        with torch.no_grad():
            if init == "chrono" and cell in ("lstm", "gru"):
                bias = torch.log(torch.empty(hidden).uniform_(1.0, max(1.0, horizon - 1.0)))  # (H,)
                # gate order: LSTM i, f, g, o; GRU r, z, n. Both bias vectors add, so one carries the value.
                self.rnn.bias_hh_l0.zero_()
                gate = self.rnn.bias_ih_l0[hidden : 2 * hidden]  # LSTM forget gate, GRU update gate
                gate.copy_(bias)
                if cell == "lstm":
                    self.rnn.bias_ih_l0[:hidden].copy_(-bias)  # input gate: closed where the forget gate keeps
            elif init == "forget1" and cell == "lstm":
                self.rnn.bias_ih_l0[hidden : 2 * hidden].fill_(1.0)
                self.rnn.bias_hh_l0[hidden : 2 * hidden].zero_()
            elif init == "gain" and cell == "rnn":
                self.rnn.weight_hh_l0.normal_(0.0, gain / math.sqrt(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (T, B, H), fused over time
        return self.head(out[-1])  # (B, classes)


def gradient_by_distance(rnn: nn.RNNBase, head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Mean over the batch of ||dL_i/dh_k||, indexed by the distance d = T-1-k from the last step, where L_i is
    sequence i's cross-entropy on the classifier `head` over h_{T-1}. Runs a float64 copy one step at a time so
    every step's hidden state is a separate tensor that keeps its gradient; the weights are left untouched."""
    rnn, head = copy.deepcopy(rnn).double(), copy.deepcopy(head).double()
    lstm = isinstance(rnn, nn.LSTM)
    x = x.double()  # (T, B, V)
    state, hs = None, []
    for k in range(x.size(0)):
        _, state = rnn(x[k : k + 1], state)  # state (1, B, H), or (h, c) for the LSTM
        h = state[0] if lstm else state
        h.retain_grad()
        hs.append(h)
    F.cross_entropy(head(hs[-1][0]), y, reduction="sum").backward()  # sum: each row is its own sequence's gradient
    norms = [h.grad[0].norm(dim=-1).mean().item() for h in hs]  # (T,) by step k
    return norms[::-1]
