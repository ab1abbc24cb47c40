"""Sentencepiece subword tokenizer: train, load, encode to ids, decode back to ordinary text.

The tokenizer owns detokenization: metrics and users only ever see `decode`'s output.
Ids are fixed for every model: pad=0, unk=1, bos=2, eos=3.
"""

from __future__ import annotations

import io
import itertools
import shutil
from pathlib import Path
from typing import Iterable

import sentencepiece as spm

from seq2seq import UserError

PAD, UNK, BOS, EOS = 0, 1, 2, 3


class Tokenizer:
    """One sentencepiece model; `encode` gives ids without BOS/EOS, `decode` drops special ids."""

    def __init__(self, model_file: str | Path):
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
    def from_bytes(cls, data: bytes, name: str | Path = "<tokenizer>") -> "Tokenizer":
        """A model from its file's bytes (what `to_bytes` gives): how data-parallel ranks get rank 0's tokenizer."""
        tok = cls.__new__(cls)
        tok._load(Path(name), model_proto=data)
        return tok

    def to_bytes(self) -> bytes:
        return self.sp.serialized_model_proto()

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, texts: list[str]) -> list[list[int]]:
        return self.sp.encode(texts, out_type=int)

    def decode(self, ids: list[list[int]]) -> list[str]:
        return [self.sp.decode([i for i in seq if i > EOS]) for seq in ids]

    def pieces(self, ids: list[int]) -> list[str]:
        return [self.sp.id_to_piece(i) for i in ids]

    @staticmethod
    def train(texts: Iterable[str], model_file: str | Path, vocab_size: int, model_type: str = "unigram",
              character_coverage: float = 1.0, sample: int = 2_000_000) -> "Tokenizer":
        """Train a model on `texts` and write it to `model_file`; the vocabulary may come out smaller on tiny data.

        `texts` may be a stream (a corpus read from disk): sentencepiece keeps a random sample of `sample`
        sentences of it (a fixed seed: the same corpus gives the same model), never the whole text."""
        buf = io.BytesIO()
        texts = (t for t in texts if t.strip())
        first = next(texts, None)
        if first is None:
            raise UserError("cannot train a tokenizer: the training text is empty")
        spm.set_random_generator_seed(1)  # sentencepiece's own generator, which samples a larger input
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=itertools.chain([first], texts), model_writer=buf, vocab_size=vocab_size,
                model_type=model_type, character_coverage=character_coverage, pad_id=PAD, unk_id=UNK, bos_id=BOS,
                eos_id=EOS, hard_vocab_limit=False, input_sentence_size=sample, shuffle_input_sentence=True,
                num_threads=2, minloglevel=2,
            )
        except RuntimeError as e:
            raise UserError(f"cannot train a tokenizer (vocab_size={vocab_size}, {model_type}): "
                            f"{str(e).splitlines()[0]}") from None
        from seq2seq.checkpoint import write_atomic

        model_file = Path(model_file)
        try:  # a full disk or a kill never leaves half a model under the real name
            write_atomic(model_file, buf.getvalue())
        except OSError as e:
            raise UserError(f"cannot write {model_file}: {e.strerror or e}") from None
        return Tokenizer(model_file)


def install(src: str | Path, dst: Path) -> Tokenizer:
    """Copy an existing sentencepiece model into a model directory."""
    if Path(src).resolve() != dst.resolve():
        shutil.copyfile(src, dst)
    return Tokenizer(dst)


def model_files(model_dir: Path) -> tuple[Path, Path]:
    """Where a model directory keeps its source and target tokenizers (the same file for a joint vocabulary)."""
    joint = model_dir / "spm.model"
    if joint.is_file():
        return joint, joint
    return model_dir / "spm.src.model", model_dir / "spm.tgt.model"


def _joint_vocab(model_dir: Path) -> bool:
    """data.joint_vocab of the model directory's config.yaml (default True); only read to name a missing file."""
    import yaml

    try:
        data = (yaml.safe_load((model_dir / "config.yaml").read_text(encoding="utf-8")) or {}).get("data") or {}
        return data.get("joint_vocab", True) is not False
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return True


def load_pair(model_dir: Path) -> tuple[Tokenizer, Tokenizer]:
    model_dir = Path(model_dir)
    src, tgt = model_files(model_dir)
    if not src.is_file() and _joint_vocab(model_dir):  # name the file this model needs, not the other layout's
        raise UserError(f"sentencepiece model not found: {model_dir / 'spm.model'}")
    src_tok = Tokenizer(src)
    return src_tok, (src_tok if tgt == src else Tokenizer(tgt))
