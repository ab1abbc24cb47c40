"""The engine under the public API: models loaded for one task (one model, or an ensemble of several of the same
vocabularies), their device, default search settings that each call may change, the fusion language model, and the
batched search of encoder outputs into `Result`s. Translator, Captioner and LanguageModel are engines; what each
adds is how its inputs become encoder outputs (texts -> tokens -> padded batches; images -> tensors)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from seq2seq.config import SearchConfig
from seq2seq.data.tokenizer import Tokenizer
from seq2seq.decode.combine import search_inputs
from seq2seq.decode.search import decode
from seq2seq.decode.shortlist import Shortlist
from seq2seq.errors import UserError
from seq2seq.loading import Loaded, check_vocabularies, fusion_lm, load, load_members


@dataclass
class Result:
    """One input's output: the best hypothesis (detokenized), its score and the n best (best first); its pieces
    (</s> included); a translation's source pieces (</s> included; none for a caption); the best hypothesis'
    attention, when asked; for a caption, the part of the image the model saw."""

    text: str
    score: float
    nbest: list[tuple[str, float]]
    tgt_pieces: list[str]
    src_pieces: list[str] = field(default_factory=list)
    attention: torch.Tensor | None = None  # (T, S) over the source pieces, or (T, N) over the image grid
    region: tuple[int, int, int, int] | None = None  # (left, top, width, height) of the upright image

    @property
    def tokens(self) -> list[str]:
        """The output pieces, as a caption's were named."""
        return self.tgt_pieces


@dataclass
class Encoded:
    """A batch ready to search: each model's encoder output, the source lengths (B,) that cap the outputs, and with
    a shortlist, the columns it scores (M,) and each input's own among them (B, M)."""

    outputs: list
    lengths: torch.Tensor
    columns: torch.Tensor | None = None
    own: torch.Tensor | None = None


class Engine:
    """`model` and its ensemble's `members` (the same target vocabulary, `tgt_tok`), on `device`; `search` holds the
    default settings, each call may change them; `lms` holds shallow fusion's language models, loaded on first
    use. Each subclass names the `task` its models are for and builds itself from loaded models (`from_loaded`)."""

    task: str  # translate | caption | lm
    attend: int | None = None  # an ensemble's attention: the mean of its members' (None), or member `attend`'s
    src_tok: Tokenizer | None = None  # the source side's sentencepiece model; none when the inputs are images
    shortlist: Shortlist | None = None  # a lexical shortlist of the target vocabulary (translation), if it has one
    quantizable = True  # whether `load(quantize=True)` gives a working model

    def __init__(self, model: torch.nn.Module, tgt_tok: Tokenizer, search: SearchConfig | None = None,
                 device: torch.device | str = "cpu", config=None, model_dir: Path | None = None,
                 members: Sequence[torch.nn.Module] = ()):
        self.model, self.tgt_tok = model, tgt_tok
        self.members = list(members)  # more models of the same vocabularies: an ensemble with `model`
        self.search = search or SearchConfig()
        self.device = torch.device(device)
        self.config, self.model_dir = config, model_dir
        self.model_dirs = [model_dir] if model_dir is not None else []  # every member's folder, `model_dir` first
        self.lms: dict = {}  # shallow fusion's language models (search.lm), loaded on first use

    @property
    def models(self) -> list[torch.nn.Module]:
        """`model` and the members: what each search step averages."""
        return [self.model, *self.members]

    @property
    def tok(self) -> Tokenizer:
        """The output side's sentencepiece model (a captioner's or language model's only one)."""
        return self.tgt_tok

    @classmethod
    def load(cls, name_or_dir: str | Path | Sequence[str | Path], device: str = "auto", *, quantize: bool = False,
             checkpoint: str | None = None, ensemble: bool = True, **search):
        """A shipped model by name (`seq2seq models`) or any model directory, or a list of them: an ensemble,
        which averages the models' log-probabilities at every search step (they must share their sentencepiece
        models; the first one's config, search settings and shortlist are used). A model loaded alone whose config
        names members (search.ensemble) is that ensemble unless `ensemble=False`. `checkpoint` best | last |
        average picks weights in a training run's directory; `quantize`: int8 weights (CPU). Search settings
        (beam, alpha, nbest, batch_size, shortlist, max_len_ratio, max_len_offset, no_repeat_ngram, lm, lm_weight)
        become the defaults. lm and lm_weight: shallow fusion with a language model of the output language."""
        if quantize and not cls.quantizable:
            raise UserError(f"int8 quantization (quantize) is not available for a {cls.__name__}")

        def load_one(name, checkpoint=checkpoint):
            return load(name, device, quantize=quantize, checkpoint=checkpoint, task=cls.task)

        loaded = load_members(name_or_dir, load_one, ensemble)
        check_vocabularies(loaded)
        engine = cls.from_loaded(loaded, loaded[0].config.search.updated(**search))
        engine.model_dirs = [m.model_dir for m in loaded]
        return engine

    @classmethod
    def from_loaded(cls, loaded: list[Loaded], search: SearchConfig):
        """An engine over these models (the first leads: its config, folder and device) with these defaults."""
        raise NotImplementedError

    def language_model(self) -> torch.nn.Module | None:
        """The default search's fusion language model (search.lm), loaded now rather than at the first batch: a
        server or report refuses an LM of another vocabulary before it starts. None without fusion."""
        return fusion_lm(self.lms, self.search, self.device, self.tgt_tok)

    @torch.inference_mode()
    def decode_batches(self, items: list, encode: Callable[[list, SearchConfig], Encoded], search: SearchConfig,
                       return_attention: bool = False, progress: Callable[[int], None] | None = None) -> list[Result]:
        """One Result per item, in order, searched `search.batch_size` items at a time: `encode(batch, search)`
        gives each model's encoder output. `progress(n)` is called as each batch of n items is done."""
        for m in self.models:
            m.eval()
        out: list[Result] = []
        for start in range(0, len(items), search.batch_size):
            batch = items[start : start + search.batch_size]
            out += self.search_encoded(encode(batch, search), search, return_attention)
            if progress:
                progress(len(batch))
        return out

    def search_encoded(self, enc: Encoded, search: SearchConfig, return_attention: bool) -> list[Result]:
        """The search over one encoded batch (the ensemble, and the fusion LM when the settings name one)."""
        lm = fusion_lm(self.lms, search, self.device, self.tgt_tok)
        stepper, outputs = search_inputs(self.models, enc.outputs, lm, search.lm_weight, enc.columns, self.attend)
        hyp = decode(stepper, outputs, enc.lengths, search, return_attention, enc.own)
        out = []
        for k, tokens in enumerate(hyp.tokens):
            texts = self.tgt_tok.decode(tokens)
            attn = hyp.attention[k][0] if hyp.attention is not None else None  # (T, S): the batch's width
            out.append(Result(texts[0], hyp.scores[k][0], list(zip(texts, hyp.scores[k])),
                              self.tgt_tok.pieces(tokens[0]) + ["</s>"], attention=attn))
        return out
