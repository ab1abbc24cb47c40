"""What the tasks share: a run's tokenizers (loaded, installed or trained on first run), made by rank 0 under
torchrun and sent to the other ranks."""

from __future__ import annotations

import itertools
from pathlib import Path

from seq2seq.config import Config
from seq2seq.data.tokenizer import Tokenizer, install, load_pair
from seq2seq.modeldir import tokenizer_files
from seq2seq.train.distributed import Dist


def prepare_tokenizers(cfg: Config, model_dir: Path, src_texts, tgt_texts, cache: Path | None = None):
    """Load the model directory's tokenizer(s); install the configured ones, or those in `cache` (a folder), or
    train new ones on first run. `src_texts`/`tgt_texts`: lists, or functions that return a new iterator over
    a side (a corpus streamed from disk)."""
    d = cfg.data
    names = tokenizer_files(joint=cfg.data.joint_vocab or not src_texts)
    if all((model_dir / n).is_file() for n in names):
        return load_pair(model_dir)
    joint = names[0] == names[1]
    langs = ((d.src_lang, d.tgt_lang),) * 2 if joint else ((d.src_lang,), (d.tgt_lang,))
    if cache is not None and all((cache / n).is_file() for n in names):
        src_tok = install(cache / names[0], model_dir / names[0], langs[0])
        return (src_tok, src_tok if joint else install(cache / names[1], model_dir / names[1], langs[1]))
    stream = lambda texts: texts() if callable(texts) else iter(texts)  # noqa: E731
    train = lambda texts, i: Tokenizer.train(texts, model_dir / names[i], d.vocab_size, d.spm_type,  # noqa: E731
                                             d.character_coverage, d.spm_sample, langs[i])
    if joint:
        tok = install(d.spm_model, model_dir / names[0], langs[0]) if d.spm_model else train(
            itertools.chain(stream(src_texts), stream(tgt_texts)), 0)
        return tok, tok
    src_tok = install(d.spm_model, model_dir / names[0], langs[0]) if d.spm_model else train(stream(src_texts), 0)
    tgt_tok = install(d.tgt_spm_model, model_dir / names[1], langs[1]) if d.tgt_spm_model else train(
        stream(tgt_texts), 1)
    return src_tok, tgt_tok


def from_rank0(dist: Dist, make) -> tuple[Tokenizer, Tokenizer]:
    """The tokenizers `make()` gives on rank 0 (the only rank that runs it), on every rank."""
    toks = make() if dist.main else None
    data = dist.broadcast(toks and tuple((t.to_bytes(), t.path, t.langs) for t in toks))
    if toks is None:
        src = Tokenizer.from_bytes(*data[0])
        toks = (src, src) if data[0] == data[1] else (src, Tokenizer.from_bytes(*data[1]))
    return toks
