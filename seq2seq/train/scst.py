"""Self-critical sequence training (Rennie et al. 2017): REINFORCE on CIDEr-D for a captioner trained with
cross-entropy (`train.objective=scst`), run by the same Trainer through its objective seam (seq2seq.train.objectives).

Per image of a batch, `train.scst_samples` captions are drawn from the model (temperature 1, all images x samples
in one batched `seq2seq.decode.sampling.sample`); each is rewarded with its CIDEr-D against that image's references,
document frequencies from the training set's references (computed once, as the original SCST code does); the
baseline is the CIDEr-D of the image's greedy caption (self-critical), or the mean reward of its other samples
(`train.scst_baseline=mean`). Sampling and search run without gradients, so the samples' log-probabilities are
computed again by a teacher-forced pass, with gradients. Loss per sample: -(reward - baseline) * sum of its
tokens' log-probabilities (nothing after </s>), averaged over the step's samples by the Trainer.

Dropout is off (eval mode) throughout: the log-probabilities that get gradients are those of the very policy
that drew the samples, so the update is the policy gradient of the model that is decoded at test time.
"""

from __future__ import annotations

import torch

from seq2seq.config import Config
from seq2seq.data.batching import Batch, teacher_forcing
from seq2seq.data.corpus import normalize_caption
from seq2seq.data.tokenizer import PAD
from seq2seq.decode.sampling import sample
from seq2seq.decode.search import NINF, greedy_search, max_lengths, never_next
from seq2seq.metrics import CiderD
from seq2seq.train.objectives import autocast


def sequence_logp(logits: torch.Tensor, tgt_out: torch.Tensor, free: torch.Tensor | None = None) -> torch.Tensor:
    """Each sequence's summed log-probability (N,) of its tokens tgt_out (N, T) (PAD after </s> counts nothing)
    under logits (N, T, V), as sampling draws them: PAD and BOS are never drawn, so the softmax runs over the
    other columns. free (N,): from this position on a token was forced (</s> at the length cap) and counts
    nothing either."""
    banned = never_next(torch.arange(logits.size(-1), device=logits.device))  # (V,)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32)).masked_fill(banned, NINF)  # bf16 -> fp32
    logp = torch.log_softmax(logits, dim=-1).gather(-1, tgt_out.unsqueeze(-1)).squeeze(-1)  # (N, T)
    keep = tgt_out != PAD
    if free is not None:
        keep &= torch.arange(tgt_out.size(1), device=tgt_out.device) < free.unsqueeze(1)
    return logp.masked_fill(~keep, 0.0).sum(1)


def reinforce_loss(seq_logp: torch.Tensor, reward: torch.Tensor, baseline: torch.Tensor) -> torch.Tensor:
    """sum over samples of -(reward - baseline) * log p(sample): its gradient is the REINFORCE estimate (summed;
    the Trainer divides by the number of samples). Rewards carry no gradient."""
    return -((reward - baseline).detach().to(seq_logp.dtype) * seq_logp).sum()


def other_mean(rewards: torch.Tensor) -> torch.Tensor:
    """rewards (B, K) -> (B, K): for each sample the mean reward of the other K - 1 samples of its image."""
    K = rewards.size(1)
    return (rewards.sum(1, keepdim=True) - rewards) / (K - 1)


class SelfCritical:
    """The SCST objective of a run (seq2seq.train.objectives.Objective): `loss(model, net, batch)` for a batch of
    training images (`batch.index`) of a captioning task (its `train_caps`: each training image's references)."""

    name = "scst"
    finite_only = True  # the policy gradient's loss has no fixed scale or sign

    def __init__(self, cfg: Config, task, amp: bool = False):
        self.k, self.baseline, self.amp = cfg.train.scst_samples, cfg.train.scst_baseline, amp
        self.search, self.refs, self.tok = cfg.search, task.train_caps, task.tgt_tok
        self.cider = CiderD(self.refs)  # document frequencies of the training references, once
        self.window = [0.0, 0.0, 0]  # summed mean sample reward, summed mean greedy reward, steps (the log row)

    def rewards(self, tokens: list[list[int]], images: list[int]) -> torch.Tensor:
        """CIDEr-D of each caption (token ids) against the references of its image."""
        texts = [normalize_caption(t) for t in self.tok.decode(tokens)]
        return torch.tensor(self.cider.scores(texts, [self.refs[i] for i in images]), dtype=torch.float)

    def loss(self, model, net, batch: Batch) -> torch.Tensor:
        """The summed REINFORCE loss of the batch's images x K samples (see the module's docstring)."""
        model.eval()  # no dropout: the samples' policy is the one given gradients
        src, lengths, images = batch.src, batch.src_lengths, batch.index.tolist()
        B, K, device = src.size(0), self.k, src.device
        rows = torch.arange(B, device=device).repeat_interleave(K)  # (B*K,) each sample's image in the batch
        max_len = max_lengths(lengths, self.search.max_len_ratio, self.search.max_len_offset).to(device)  # (B,)
        with torch.no_grad(), autocast(device, self.amp):
            enc = model.encode(src, lengths.to(device))
            drawn = sample(model.decoder, enc.select(rows), max_len[rows]).tokens  # B*K x [[ids]]
            greedy = greedy_search(model.decoder, enc, max_len).tokens if self.baseline == "greedy" else None
        samples = [s[0] for s in drawn]
        reward = self.rewards(samples, [images[i] for i in rows.tolist()]).view(B, K)
        if greedy is not None:
            base = self.rewards([g[0] for g in greedy], images).unsqueeze(1).expand(B, K)
        else:
            base = other_mean(reward)
        self.window = [self.window[0] + reward.mean().item(), self.window[1] + base.mean().item(), self.window[2] + 1]
        tgt_in, tgt_out = (t.to(device) for t in teacher_forcing(samples))  # (B*K, T) each
        with autocast(device, self.amp):
            logits, _ = net(src.index_select(0, rows), lengths[rows.cpu()].to(device), tgt_in)  # (B*K, T, V)
        seq_logp = sequence_logp(logits, tgt_out, free=max_len[rows] - 1)
        return reinforce_loss(seq_logp, reward.view(-1).to(device), base.reshape(-1).to(device))

    def row(self) -> dict:
        """The log row's mean rewards (CIDEr-D of the samples, and of the greedy captions) since the last row."""
        s, g, n = self.window
        self.window = [0.0, 0.0, 0]
        out = {"reward": round(s / max(n, 1), 4)}
        if self.baseline == "greedy":
            out["greedy_reward"] = round(g / max(n, 1), 4)
        return out

    def rate(self, row: dict) -> str:
        """A sampled caption counts as a target (the task's lengths make an image K of them)."""
        return (f"{row['tok_s']:.0f} samples/s | sample CIDEr-D {row['reward']:.3f}, greedy "
                f"{row.get('greedy_reward', '-')}")

    def state_dict(self) -> list:
        return list(self.window)

    def load_state_dict(self, window: list) -> None:
        self.window = list(window)
