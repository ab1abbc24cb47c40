"""What a training step minimises (`train.objective`): the one seam between the Trainer and its objective, and the
default one, label-smoothed cross-entropy with the attention penalty `train.attn_reg`. Self-critical training
(seq2seq.train.scst) is the other. Each objective also names its log columns and keeps its own state in last.pt.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F

from seq2seq.config import Config
from seq2seq.data.batching import Batch
from seq2seq.data.tokenizer import PAD


class Objective(Protocol):
    """The loss of a training batch, and what the log and last.pt show of the objective."""

    name: str  # train.objective's value; the key of the objective's state in last.pt
    finite_only: bool  # a loss of no fixed scale or sign: the divergence watch checks only that it is finite

    def loss(self, model, net, batch: Batch) -> torch.Tensor:
        """The batch's summed loss (the Trainer divides it by the step's targets); `net` runs the forward pass
        that gets gradients (the model, or its DistributedDataParallel wrapper), `model` anything else."""

    def row(self) -> dict:
        """The objective's columns of a training log row, over the steps since the last row."""

    def rate(self, row: dict) -> str:
        """The log line's throughput, row["tok_s"] (the step's targets per second: what the task counts, a
        target token or a sampled caption), and the objective's columns."""

    def state_dict(self):
        """What --resume needs of it, or None."""

    def load_state_dict(self, state) -> None: ...


def autocast(device: torch.device, amp: bool):
    """bfloat16 autocast of the forward passes under train.amp (CUDA only: the Trainer decides `amp`)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp)


def cross_entropy(net, batch: Batch, smoothing: float = 0.0, amp: bool = False
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The summed label-smoothed cross-entropy over the batch's target tokens (padding ignored), and the attention
    weights (B, T, S), or None for a model without attention."""
    device = batch.src.device
    with autocast(device, amp):
        logits, attn = net(batch.src, batch.src_lengths.to(device), batch.tgt_in)  # (B, T, V)
    loss = F.cross_entropy(logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD,
                           label_smoothing=smoothing, reduction="sum")
    return loss, attn


def joint_ctc(net, batch: Batch, weight: float, smoothing: float = 0.0, amp: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Joint CTC-attention (Watanabe et al. 2017): `weight` x the summed CTC loss of the encoder's CTC head (its
    blank is PAD; the targets are the pieces without </s>) + (1 - weight) x the summed cross-entropy; and the
    attention weights."""
    device = batch.src.device
    with autocast(device, amp):
        logits, attn, ctc_logits, frames = net(batch.src, batch.src_lengths.to(device), batch.tgt_in, ctc=True)
    xent = F.cross_entropy(logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD,
                           label_smoothing=smoothing, reduction="sum")
    lengths = (batch.tgt_out != PAD).sum(1) - 1  # (B,) pieces, </s> left out
    logp = torch.log_softmax(ctc_logits.float(), -1).transpose(0, 1)  # (S, B, V)
    ctc = F.ctc_loss(logp, batch.tgt_out, frames, lengths, blank=PAD, reduction="sum", zero_infinity=True)
    return weight * ctc + (1 - weight) * xent, attn


class CrossEntropy:
    """Teacher forcing: label-smoothed cross-entropy (train.label_smoothing), plus train.attn_reg times the doubly
    stochastic attention penalty (each memory cell's total attention pulled towards 1); for speech with
    train.ctc_weight, joint CTC-attention."""

    name, finite_only = "xent", False

    def __init__(self, cfg: Config, task, amp: bool = False):
        self.train, self.amp = cfg.train, amp

    def loss(self, model, net, batch: Batch) -> torch.Tensor:
        if self.train.ctc_weight:
            loss, attn = joint_ctc(net, batch, self.train.ctc_weight, self.train.label_smoothing, self.amp)
        else:
            loss, attn = cross_entropy(net, batch, self.train.label_smoothing, self.amp)
        lam = self.train.attn_reg
        if lam and attn is not None:
            steps = (batch.tgt_out != PAD).unsqueeze(-1).float()  # (B, T, 1)
            coverage = (attn.float() * steps).sum(1)  # (B, S): total attention each memory cell received
            loss = loss + lam * ((1.0 - coverage) ** 2).sum()
        return loss

    def row(self) -> dict:
        return {}

    def rate(self, row: dict) -> str:
        return f"{row['tok_s']:.0f} tgt tok/s"

    def state_dict(self) -> None:
        return None

    def load_state_dict(self, state) -> None:
        pass
