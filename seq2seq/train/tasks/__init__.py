"""What the one training loop needs to know about a task: its examples, batches, and validation decoding.

One file per task: text (translation: parallel text in a memory-mapped store), caption (images with several
captions each, as cached backbone features or pixels) and lm (monolingual text for a language model); common
holds the tokenizers they share. Under torchrun, rank 0 prepares what is shared and the other ranks receive it.
"""

from __future__ import annotations

from pathlib import Path

from seq2seq.config import Config
from seq2seq.train.distributed import Dist
from seq2seq.train.tasks.caption import CaptionTask
from seq2seq.train.tasks.lm import LMTask
from seq2seq.train.tasks.text import TextTask

TASKS = {"translate": TextTask, "caption": CaptionTask, "lm": LMTask}


def make_task(cfg: Config, model_dir: Path, log=print, dist: Dist | None = None):
    """The training task of the config's kind (Config.task)."""
    return TASKS[cfg.task](cfg, model_dir, log, dist)
