"""The validation metric that picks `best.pt`, drives early stopping and the plateau schedule (`train.valid_metric`).

What `auto` means is the task's to say (seq2seq.train.tasks): the validation loss for a language model, CIDEr-D
(x100, as reported) for a captioner under self-critical training, which optimises it; the word error rate (lower is
better) for speech; otherwise BLEU, unless most
validation references are shorter than BLEU's 4-gram order: there 4-gram BLEU is 0 whatever the model outputs, and
`exact` (sentence accuracy) is used instead. Exact match rather than chrF, because short outputs (numbers, labels,
single words) are right or wrong as a whole (chrF gives "54461" 37 points for "54416"), and where exact match stays
flat the tie-break by validation loss still ranks the checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

from seq2seq.data.corpus import normalize_caption
from seq2seq.metrics import (
    BLEU_ORDER,
    bleu,
    cider_d,
    corpus_scores,
    error_rates,
    exact_match,
    short_for_bleu,
)

METRICS = ("auto", "bleu", "chrf", "exact", "loss", "cider", "wer", "cer")
NAMES = {"bleu": "BLEU", "chrf": "chrF", "exact": "exact match %", "loss": "loss", "cider": "CIDEr-D", "wer": "WER %",
         "cer": "CER %"}
LOWER_IS_BETTER = ("loss", "wer", "cer")
SHORT = 0.5  # "mostly": more than half of the references (or hypotheses) shorter than 4 tokens


class ValidMetric:
    """One run's metric: its name, each validation's score, and the order of two validations (higher `rank` is
    better; equal scores are ranked by validation loss, rounded as the log shows it)."""

    def __init__(self, requested: str, refs: list[list[str]], say=print, tokenize: str = "13a",
                 items: list[list[str]] | None = None):
        self.requested, self.say, self.tokenize = requested, say, tokenize  # tokenize: BLEU's, for the output
        self.items = items  # captioning: each image's references (CIDEr-D)
        first = refs[0] if refs else []
        self.short_refs = short_for_bleu(first, tokenize)
        self.warned = False
        if requested != "auto":
            self.name = requested
            if requested == "bleu" and self.short_refs > SHORT:
                self._warn(f"{self.short_refs:.0%} of the validation references")
        elif self.short_refs > SHORT:
            self.name = "exact"
            say(f"validation metric: exact (train.valid_metric=auto: {self.short_refs:.0%} of the validation "
                f"references are shorter than {BLEU_ORDER} tokens, where BLEU is 0 whatever the model outputs; "
                f"ties are broken by validation loss)")
        else:
            self.name = "bleu"
            say("validation metric: bleu (train.valid_metric=auto; ties are broken by validation loss)")

    @property
    def label(self) -> str:
        return NAMES[self.name]

    def show(self, score: float) -> str:
        return f"{score:.4f}" if self.name == "loss" else f"{score:.2f}"

    def _warn(self, what: str, advice: str = "train.valid_metric=exact (sentence accuracy) would") -> None:
        if not self.warned:
            self.warned = True
            self.say(f"warning: train.valid_metric=bleu, but {what} are shorter than {BLEU_ORDER} tokens, so "
                     f"BLEU is 0 or close to it whatever the model outputs and cannot pick the best checkpoint; "
                     f"{advice}")

    def scores(self, hyps: list[str], refs: list[list[str]], loss: float) -> tuple[float, float]:
        """(BLEU, this metric's score) of one validation; warns once when asked-for BLEU meets short hypotheses."""
        b = bleu(hyps, refs, tokenize=self.tokenize)
        if self.requested == "bleu" and b == 0.0 and short_for_bleu(hyps, self.tokenize) > SHORT:
            self._warn(f"{short_for_bleu(hyps, self.tokenize):.0%} of the validation hypotheses",
                       "if the task's outputs are that short, train.valid_metric=exact (sentence accuracy) would")
        if self.name == "bleu":
            return b, b
        if self.name == "exact":
            return b, exact_match(hyps, refs)
        if self.name == "cider":
            return b, cider(hyps, self.items)
        if self.name == "chrf":
            return b, corpus_scores(hyps, refs, metrics=("chrf",))["chrf"].score
        if self.name in ("wer", "cer"):
            return b, error_rates(hyps, refs[0])[self.name].score
        return b, round(loss, 4)

    def rank(self, score: float, loss: float) -> tuple[float, float]:
        """Sort key of a validation: the score (negated for loss and error rates, where lower is better), then
        -loss."""
        loss = round(loss, 4)
        if self.name == "loss":
            return -loss, -loss
        return (-score if self.name in LOWER_IS_BETTER else score), -loss


@dataclass
class Best:
    """The validation whose weights are in best.pt: its rank, score, BLEU and step."""

    rank: tuple | None = None
    score: float | None = None
    bleu: float | None = None
    step: int | None = None


def cider(hyps: list[str], refs: list[list[str]]) -> float:
    """Corpus CIDEr-D x100 of captions against each one's references (document frequencies from these references),
    captions normalized as the references are (seq2seq.data.corpus.normalize_caption)."""
    return round(100 * cider_d([normalize_caption(h) for h in hyps], refs), 2)
