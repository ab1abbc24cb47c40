"""Sentencepiece subword tokenizer: train, load, encode to ids, decode back to ordinary text.

The tokenizer owns normalization (seq2seq.data.textnorm, by language: Chinese gets its own) and detokenization:
metrics and users only ever see `decode`'s output. Ids are fixed for every model: pad=0, unk=1, bos=2, eos=3.
"""

from __future__ import annotations

import io
import random
import shutil
from pathlib import Path
from typing import Iterable

import sentencepiece as spm
import yaml

from seq2seq.data.textnorm import normalizer, spm_rule
from seq2seq.errors import UserError
from seq2seq.files import write_atomic
from seq2seq.modeldir import CONFIG, SPM_JOINT, tokenizer_files

PAD, UNK, BOS, EOS = 0, 1, 2, 3


class Tokenizer:
    """One sentencepiece model for text in `langs`; `encode` normalizes for those languages and gives ids without
    BOS/EOS, `decode` drops special ids."""

    def __init__(self, model_file: str | Path, langs: Iterable[str] = ()):
        self.langs = tuple(langs)
        self.normalize = normalizer(self.langs)
        model_file = Path(model_file)
        if not model_file.is_file():
            raise UserError(f"sentencepiece model not found: {model_file}")
        self._load(model_file, model_file=str(model_file))

    def _load(self, name: Path, **source) -> None:
        self.path = name
        try:
            self.sp = spm.SentencePieceProcessor(**source)
        except (RuntimeError, OSError) as e:
            raise UserError(f"{name} is not a sentencepiece model: {str(e).splitlines()[0]}") from None
        if (self.sp.pad_id(), self.sp.unk_id(), self.sp.bos_id(), self.sp.eos_id()) != (PAD, UNK, BOS, EOS):
            raise UserError(f"{name}: sentencepiece model must use pad=0 unk=1 bos=2 eos=3")

    @classmethod
    def from_bytes(cls, data: bytes, name: str | Path = "<tokenizer>", langs: Iterable[str] = ()) -> "Tokenizer":
        """A model from its file's bytes (what `to_bytes` gives): how data-parallel ranks get rank 0's tokenizer."""
        tok = cls.__new__(cls)
        tok.langs = tuple(langs)
        tok.normalize = normalizer(tok.langs)
        tok._load(Path(name), model_proto=data)
        return tok

    def to_bytes(self) -> bytes:
        return self.sp.serialized_model_proto()

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, texts: list[str]) -> list[list[int]]:
        if self.normalize is not None:
            texts = [self.normalize(t) for t in texts]
        return self.sp.encode(texts, out_type=int)

    def decode(self, ids: list[list[int]]) -> list[str]:
        return [self.sp.decode([i for i in seq if i > EOS]) for seq in ids]

    def pieces(self, ids: list[int]) -> list[str]:
        return [self.sp.id_to_piece(i) for i in ids]

    @staticmethod
    def train(texts: Iterable[str], model_file: str | Path, vocab_size: int, model_type: str = "unigram",
              character_coverage: float = 1.0, sample: int = 2_000_000, langs: Iterable[str] = ()) -> "Tokenizer":
        """Train a model on `texts` (in `langs`) and write it to `model_file`; the vocabulary may come out smaller
        on tiny data.

        `texts` may be a stream (a corpus read from disk): a uniform random sample of `sample` sentences of it is
        kept (`reservoir`, a fixed seed: the same corpus gives the same model in every process), never the whole
        text; a corpus of at most `sample` sentences is used whole, in its order."""
        buf = io.BytesIO()
        langs = tuple(langs)
        norm = normalizer(langs) or (lambda t: t)
        kept = reservoir((norm(t) for t in texts if t.strip()), sample)
        if not kept:
            raise UserError("cannot train a tokenizer: the training text is empty")
        spm.set_random_generator_seed(1)  # sentencepiece's own generator (the unigram trainer's sampling)
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(kept), model_writer=buf, vocab_size=vocab_size,
                model_type=model_type, character_coverage=character_coverage, pad_id=PAD, unk_id=UNK, bos_id=BOS,
                eos_id=EOS, hard_vocab_limit=False, input_sentence_size=0, shuffle_input_sentence=False,
                normalization_rule_name=spm_rule(langs),
                num_threads=2, minloglevel=2,
            )
        except RuntimeError as e:
            raise UserError(f"cannot train a tokenizer (vocab_size={vocab_size}, {model_type}): "
                            f"{str(e).splitlines()[0]}") from None
        model_file = Path(model_file)
        try:  # a full disk or a kill never leaves half a model under the real name
            write_atomic(model_file, buf.getvalue())
        except OSError as e:
            raise UserError(f"cannot write {model_file}: {e.strerror or e}") from None
        return Tokenizer(model_file, langs)


def reservoir(items: Iterable[str], k: int, seed: int = 1) -> list[str]:
    """A uniform random sample of k items of a stream of unknown length (Vitter's algorithm R), in one pass and
    O(k) memory; all of them, in order, when there are at most k. Seeded here, not by sentencepiece, whose own
    sampling of a large input differed between processes."""
    rng = random.Random(seed)
    kept: list[str] = []
    for i, item in enumerate(items):
        if i < k:
            kept.append(item)
        else:
            j = rng.randrange(i + 1)
            if j < k:
                kept[j] = item
    return kept


def install(src: str | Path, dst: Path, langs: Iterable[str] = ()) -> Tokenizer:
    """Copy an existing sentencepiece model into a model directory."""
    if Path(src).resolve() != dst.resolve():
        shutil.copyfile(src, dst)
    return Tokenizer(dst, langs)


def model_files(model_dir: Path) -> tuple[Path, Path]:
    """Where a model directory keeps its source and target tokenizers (the same file for a joint vocabulary)."""
    joint = model_dir / SPM_JOINT
    if joint.is_file():
        return joint, joint
    return tuple(model_dir / name for name in tokenizer_files(joint=False))


def _data_config(model_dir: Path) -> dict:
    """The `data` part of the model directory's config.yaml, read without validation ({} when unreadable): its
    languages and whether the vocabulary is joint."""
    try:
        data = (yaml.safe_load((model_dir / CONFIG).read_text(encoding="utf-8")) or {}).get("data") or {}
        return data if isinstance(data, dict) else {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return {}


def load_pair(model_dir: Path) -> tuple[Tokenizer, Tokenizer]:
    """The source and target tokenizers of a model directory (one object for a joint vocabulary)."""
    model_dir = Path(model_dir)
    data = _data_config(model_dir)
    langs = (str(data.get("src_lang", "src")), str(data.get("tgt_lang", "tgt")))
    src, tgt = model_files(model_dir)
    if not src.is_file() and data.get("joint_vocab", True) is not False:  # name the file this model needs
        raise UserError(f"sentencepiece model not found: {model_dir / SPM_JOINT}")
    if tgt == src:
        tok = Tokenizer(src, langs)
        return tok, tok
    return Tokenizer(src, langs[:1]), Tokenizer(tgt, langs[1:])
