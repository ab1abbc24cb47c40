"""What the one training loop needs to know about a task (`Task`): its examples, batches, validation metric and
validation decoding; and the task of a config.

One file per task: text (translation: parallel text in a memory-mapped store), caption (images with several
captions each, as cached backbone features or pixels), speech (utterances' cepstra and transcripts) and lm (monolingual text for a language model); common
holds the tokenizers they share. Under torchrun, rank 0 prepares what is shared and the other ranks receive it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import torch

from seq2seq.config import Config, SearchConfig
from seq2seq.data.batching import Batch
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.train.distributed import Dist
from seq2seq.train.tasks.caption import CaptionTask
from seq2seq.train.tasks.lm import LMTask
from seq2seq.train.tasks.speech import SpeechTask
from seq2seq.train.tasks.text import TextTask
from seq2seq.train.validation import ValidMetric


class Task(Protocol):
    """A training task, as the Trainer sees it: all it knows of what it trains on."""

    src_tok: Tokenizer
    tgt_tok: Tokenizer
    valid_refs: list[list[str]]  # the validation references, one stream per reference: valid_refs[k][i]
    shows_bleu: bool  # whether validation lines and the summary name BLEU (a language model's is meaningless)

    def attach(self, model: torch.nn.Module, device: torch.device) -> None:
        """Prepare what needs the built model (captioning: the frozen backbone's features of every image)."""

    def lengths(self) -> tuple[Sequence[int], Sequence[int]]:
        """Each training example's source and target length in tokens (the Trainer adds one for </s>): the
        batches' buckets, and the step's targets that divide its loss."""

    def batch(self, idx: Sequence[int]) -> Batch:
        """The training examples `idx` as one batch (the Trainer moves it to the device)."""

    def valid_batches(self, batch_tokens: int) -> Iterator[Batch]:
        """The validation set in teacher-forcing batches, for the validation loss."""

    def valid_metric(self, requested: str, say: Callable[[str], None]) -> ValidMetric:
        """The run's validation metric: train.valid_metric `requested`, where `auto` is this task's default."""

    def decode_valid(self, model: torch.nn.Module, search: SearchConfig, device: torch.device,
                     part: slice = slice(None)) -> list[str]:
        """The model's outputs for the validation set (for the `part` of it that is one rank's share), scored
        against `valid_refs`."""


TASKS = {"translate": TextTask, "caption": CaptionTask, "transcribe": SpeechTask, "lm": LMTask}


def make_task(cfg: Config, model_dir: Path, log=print, dist: Dist | None = None) -> Task:
    """The training task of the config's kind (Config.task)."""
    return TASKS[cfg.task](cfg, model_dir, log, dist)
