"""Speech recognition's training task: utterances (AN4's Sphinx features, or wav/.mfc files listed in a TSV with
their transcripts) as normalised cepstra with deltas, held in memory; SpecAugment on the training batches;
validation transcribes the dev utterances, scored by WER."""

from __future__ import annotations

from pathlib import Path

import torch

from seq2seq.config import Config
from seq2seq.data.audio import (
    an4_dev_split,
    an4_utterances,
    load_cepstra,
    model_input,
    spec_augment,
)
from seq2seq.data.batching import Batch, pad_frames, teacher_forcing, token_batches
from seq2seq.data.corpus import read_tsv
from seq2seq.errors import UserError
from seq2seq.metrics import speech_text
from seq2seq.train.distributed import Dist
from seq2seq.train.tasks.common import from_rank0, prepare_tokenizers
from seq2seq.train.validation import ValidMetric
from seq2seq.transcribe import Transcriber


def speech_table(path: str | Path) -> list[tuple[Path, str]]:
    """(audio file, transcript) of each `audio<TAB>transcript` line of a TSV; files relative to the TSV's folder."""
    base = Path(path).parent
    return [(base / audio, text) for audio, text in zip(*read_tsv(path))]


def load_utterances(cfg: Config, log) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """(train, validation) utterances: data.train / data.valid TSVs, or AN4's training list with whole speakers
    held out as the dev set (data.dev_utterances) when no data.valid is given. AN4's test list is never read."""
    d = cfg.data
    if d.dataset == "an4":
        train = an4_utterances(d.root, "train")
    elif d.train:
        train = speech_table(d.train)
    else:
        raise UserError("speech needs data.dataset (an4) or data.train (a TSV of audio<TAB>transcript)")
    if d.valid:
        return train, speech_table(d.valid)
    train, dev = an4_dev_split(train, d.dev_utterances, cfg.train.seed)
    log(f"no validation data given (data.valid): {len(dev)} utterances of whole training speakers held out")
    return train, dev


class SpeechTask:
    """One example per utterance: (frames, model.audio_features) normalised cepstra (+ deltas) and its transcript
    in the target pieces. An example's source length is its frame count, so train.batch_tokens counts frames."""

    shows_bleu = False

    def __init__(self, cfg: Config, model_dir: Path, log=print, dist: Dist | None = None):
        self.cfg, self.dist = cfg, dist or Dist()
        d = cfg.data
        train, valid = load_utterances(cfg, log)
        if d.max_valid:
            valid = valid[: d.max_valid]
        texts = [speech_text(t) for _, t in train]
        _, self.tgt_tok = from_rank0(self.dist, lambda: prepare_tokenizers(cfg, model_dir, [], texts))
        self.src_tok = self.tgt_tok
        self.feats, self.tgt = [], []
        for (path, _), ids in zip(train, self.tgt_tok.encode(texts)):
            if 1 <= len(ids) <= d.max_len:
                self.feats.append(model_input(load_cepstra(path), d.audio_deltas))  # (frames, F)
                self.tgt.append(ids)
        log(f"training data: {len(self.tgt):,} of {len(train):,} utterances "
            f"({sum(len(f) for f in self.feats) / 100 / 3600:.2f} h)")
        if not self.tgt:
            raise UserError("no training utterances left; check data.max_len")
        self.valid_feats = [model_input(load_cepstra(p), d.audio_deltas) for p, _ in valid]
        self.valid_refs = [[speech_text(t) for _, t in valid]]
        self.valid_tgt = [ids[: d.max_len] for ids in self.tgt_tok.encode(self.valid_refs[0])]

    def attach(self, model, device) -> None:
        pass

    def lengths(self) -> tuple[list[int], list[int]]:
        return [len(f) for f in self.feats], [len(t) for t in self.tgt]

    def _augmented(self, i: int, idx) -> torch.Tensor:
        """Utterance i under SpecAugment, its masks drawn from the seed and the batch (reproducible on --resume)."""
        d = self.cfg.data
        gen = torch.Generator().manual_seed(self.cfg.train.seed * 1_000_003 + int(sum(idx)) * 7_919 + i)
        return spec_augment(self.feats[i], gen, d.specaug_time_masks, d.specaug_time_width, d.specaug_freq_masks,
                            d.specaug_freq_width)

    def batch(self, idx) -> Batch:
        idx = [int(i) for i in idx]
        frames, lengths = pad_frames([self._augmented(i, idx) for i in idx])  # (B, T, F)
        return Batch(frames, lengths, *teacher_forcing([self.tgt[i] for i in idx]))

    def valid_batches(self, batch_tokens: int):
        for idx in token_batches([len(f) for f in self.valid_feats], [len(t) for t in self.valid_tgt], batch_tokens):
            frames, lengths = pad_frames([self.valid_feats[i] for i in idx])
            yield Batch(frames, lengths, *teacher_forcing([self.valid_tgt[i] for i in idx]))

    def valid_metric(self, requested: str, say) -> ValidMetric:
        """`auto`: the word error rate (lower is better)."""
        if requested == "auto":
            say("validation metric: wer (train.valid_metric=auto for speech; ties are broken by validation loss)")
            requested = "wer"
        return ValidMetric(requested, self.valid_refs, say)

    def decode_valid(self, model, search, device, part: slice = slice(None)) -> list[str]:
        """Transcripts of the dev utterances (of the `part` of them, for one rank's share)."""
        tr = Transcriber(model, self.tgt_tok, search, device, self.cfg)
        return [r.text for r in tr.decode_features(self.valid_feats[part], search)]
