"""ReportOptions: everything `seq2seq report` can be asked for, typed and checked before any slow work."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from seq2seq.errors import UserError
from seq2seq.report.stats import N_BOOTSTRAP

DATASETS = ("flickr8k",)


@dataclass(frozen=True)
class ReportOptions:
    """What to evaluate (translation: src + refs; captioning: captions [+ images] or a dataset), against what
    (`compare`: a model or a hypothesis file), how to decode, and what to show. Checked on construction."""

    out: Path
    models: tuple[str, ...] = ()  # model directories or shipped names, several: an ensemble; (): the shipped one
    # translation
    src: str | None = None
    refs: tuple[str, ...] = ()
    lowercase: bool = False
    # captioning
    captions: str | None = None  # TSV of image<TAB>caption
    images: str | None = None  # file listing the images to use (default: all in captions)
    images_dir: str | None = None  # folder the TSV's image names are relative to
    dataset: str | None = None
    split: str | None = None  # dataset split (default: test)
    root: str | None = None  # dataset folder
    # what to show
    compare: str | None = None
    limit: int = 0  # only the first N items (0: all)
    examples: int = 5
    attention: int = 3
    bootstrap: int = N_BOOTSTRAP
    title: str | None = None
    # decoding: None = the model's own setting
    device: str = "auto"
    beam: int | None = None
    alpha: float | None = None
    batch_size: int | None = None
    shortlist: bool | None = None
    no_repeat_ngram: int | None = None
    checkpoint: str | None = None  # best | last | average in a training run's directory (the --model only)
    ensemble: bool = True  # a model given alone brings the members its config names (search.ensemble); False: alone
    lm: str | None = None  # shallow fusion (the --model system only, not --compare): a language model ...
    lm_weight: float | None = None  # ... and its weight; both None: the model's config decides
    progress: bool | None = None  # None: a progress bar when stderr is a terminal

    def __post_init__(self):
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "refs", tuple(self.refs))
        object.__setattr__(self, "models", (self.models,) if isinstance(self.models, str) else tuple(self.models))
        self._check_numbers()
        self._check_task()
        self._check_system()

    @property
    def task(self) -> str:
        return "translate" if self.src else "caption"

    @property
    def dataset_split(self) -> str:
        return self.split or "test"

    def search_overrides(self, fusion: bool = True) -> dict:
        """The search settings given (None: the model's config decides); `fusion=False` leaves out --lm and
        --lm-weight (for --compare: the baseline is decoded as its own config says)."""
        lm = {"lm": self.lm, "lm_weight": self.lm_weight} if fusion else {}
        return {"beam": self.beam, "alpha": self.alpha, "batch_size": self.batch_size, "shortlist": self.shortlist,
                "no_repeat_ngram": self.no_repeat_ngram, **lm}

    def _check_numbers(self) -> None:
        for name, value, least in (("--limit", self.limit, 0), ("--examples", self.examples, 0),
                                   ("--attention", self.attention, 0), ("--bootstrap", self.bootstrap, 1),
                                   ("--beam", self.beam, 1), ("--batch-size", self.batch_size, 1)):
            if value is not None and value < least:
                raise UserError(f"{name} must be >= {least} (got {value})")
        if self.alpha is not None and not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise UserError(f"--alpha must be a finite number >= 0 (got {self.alpha})")

    def _check_system(self) -> None:
        if self.lm and self.lm_weight is None:
            raise UserError("--lm needs --lm-weight W (the weight of the language model's log-probabilities)")
        if self.lm_weight is not None and not (math.isfinite(self.lm_weight) and 0 <= self.lm_weight <= 10):
            raise UserError(f"--lm-weight must be a number between 0 and 10 (got {self.lm_weight})")

    def _check_task(self) -> None:
        captioning = bool(self.images or self.captions or self.dataset)
        if self.src and captioning:
            raise UserError("give --src/--ref (translation) or --images/--captions/--dataset (captioning), not both")
        if not self.src and not captioning:
            raise UserError("nothing to evaluate: give --src FILE --ref FILE (translation) or --captions FILE / "
                            "--dataset flickr8k (captioning)")
        if self.src and not self.refs:
            raise UserError("a translation report needs --ref FILE (repeat it for several references)")
        if captioning and self.refs:
            raise UserError("--ref is for translation; a captioning report takes its references from --captions "
                            "or --dataset")
        if self.dataset:
            if self.dataset not in DATASETS:
                raise UserError(f"unknown dataset {self.dataset!r}; the one known is flickr8k")
            if self.images or self.captions or self.images_dir:
                raise UserError("give --dataset, or --images/--captions/--images-dir, not both")
        else:
            for flag, value in (("--split", self.split), ("--root", self.root)):
                if value is not None:
                    raise UserError(f"{flag} chooses a --dataset's split or folder; without --dataset it does "
                                    f"nothing")
            if captioning and not self.captions:
                raise UserError("a captioning report needs reference captions: --captions FILE "
                                "(image<TAB>caption) or --dataset flickr8k")
