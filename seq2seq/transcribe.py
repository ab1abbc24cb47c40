"""Transcriber: speech (a wav or Sphinx .mfc file, wav bytes, or samples) -> 13 cepstra per 10 ms (the Sphinx front
end, seq2seq.data.audio) -> the audio encoder -> the shared decoder and search, or the encoder's CTC head, or both
(search.ctc_weight) -> words.

    from seq2seq import Transcriber
    Transcriber.load("an4-en").transcribe("utterance.wav")          # -> "ERASE C Q Q F SEVEN"
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from seq2seq.config import SearchConfig
from seq2seq.data.audio import load_cepstra, model_input
from seq2seq.data.batching import pad_frames
from seq2seq.decode import ctc
from seq2seq.engine import Encoded, Engine, Result
from seq2seq.errors import UserError

AudioLike = Union[str, Path, bytes, np.ndarray, torch.Tensor]


class Transcriber(Engine):
    """A speech recogniser (or an ensemble of several of one vocabulary and front end); `search` holds the default
    settings, each call may change them. search.ctc_weight: 0 decodes with attention (beam search), 1 with the CTC
    head alone (prefix beam search), and between, the attention n-best is rescored by
    w x log p_CTC + (1 - w) x the attention score (joint decoding)."""

    task = "transcribe"
    attend = 0  # an ensemble's attention over the frames: the first model's

    @classmethod
    def from_loaded(cls, loaded, search: SearchConfig) -> "Transcriber":
        m = loaded[0]
        for other in loaded[1:]:
            if (other.config.data.audio_deltas, other.config.model.reductions) != (
                    m.config.data.audio_deltas, m.config.model.reductions):
                raise UserError(f"{other.model_dir} and {m.model_dir} read different features or frame rates "
                                f"(data.audio_deltas, model.reductions): an ensemble needs the same")
        return cls(m.model, m.tgt_tok, search, m.device, m.config, m.model_dir, [o.model for o in loaded[1:]])

    def features(self, audio: AudioLike, sample_rate: int | None = None) -> torch.Tensor:
        """What the model reads of one utterance: (frames, model.audio_features)."""
        deltas = self.config.data.audio_deltas if self.config is not None else True
        return model_input(load_cepstra(audio, sample_rate), deltas)

    def transcribe(self, audio: AudioLike | Sequence[AudioLike], sample_rate: int | None = None,
                   **search) -> str | list[str]:
        """One utterance -> its words; a list -> a list of transcripts."""
        if isinstance(audio, (list, tuple)):
            return [r.text for r in self.generate(audio, sample_rate, **search)]
        return self.generate([audio], sample_rate, **search)[0].text

    def generate(self, audios: Sequence[AudioLike], sample_rate: int | None = None, return_attention: bool = False,
                 progress: Callable[[int], None] | None = None, **search) -> list[Result]:
        """One Result per utterance, in order (text, score, n-best, pieces, attention over the encoder's frames)."""
        s = self.search.updated(**search)
        feats = []
        for i, a in enumerate(audios):
            try:
                feats.append(self.features(a, sample_rate))
            except (ValueError, TypeError) as e:
                raise UserError(f"audio {i}: {e}") from None
        return self.decode_features(feats, s, return_attention, progress)

    def decode_features(self, feats: list[torch.Tensor], s: SearchConfig, return_attention: bool = False,
                        progress: Callable[[int], None] | None = None) -> list[Result]:
        """Results for utterances' model inputs (frames, F), in order; decoded shortest first, in batches."""
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]))
        attention_search = replace(s, nbest=max(s.nbest, s.beam)) if 0 < s.ctc_weight < 1 else s
        out: list[Result | None] = [None] * len(feats)
        for m in self.models:
            m.eval()
        with torch.inference_mode():
            for start in range(0, len(order), s.batch_size):
                chunk = order[start : start + s.batch_size]
                enc = self.encode([feats[i] for i in chunk])
                if s.ctc_weight == 1:
                    results = self.ctc_decode(enc, s)
                else:
                    results = self.search_encoded(enc, attention_search, return_attention)
                    if s.ctc_weight > 0:
                        results = self.rescore(enc, results, s)
                for i, r in zip(chunk, results):
                    out[i] = r
                if progress:
                    progress(len(chunk))
        return out

    def transcribe_files(self, paths: Sequence[str | Path], progress: Callable[[int], None] | None = None,
                         **search) -> list[Result | UserError]:
        """One result per file, in order: a Result, or the error that file gave (the others still run)."""
        s = self.search.updated(**search)
        feats, results = {}, [None] * len(paths)
        for i, p in enumerate(paths):
            try:
                feats[i] = self.features(p)
            except UserError as e:
                results[i] = e
        if progress and len(feats) < len(paths):
            progress(len(paths) - len(feats))
        for i, r in zip(feats, self.decode_features(list(feats.values()), s, progress=progress)):
            results[i] = r
        return results

    decode_files = transcribe_files  # the name every file-reading API shares (the CLI's)

    def encode(self, batch: list[torch.Tensor], search: SearchConfig | None = None) -> Encoded:
        """Each model's encoder output for utterances' frames; the frame counts cap the output length."""
        frames, lengths = pad_frames(batch)  # (B, T, F), (B,)
        frames = frames.to(self.device)
        return Encoded([m.encode(frames, lengths.to(self.device)) for m in self.models], lengths)

    def ctc_logprobs(self, enc: Encoded) -> tuple[torch.Tensor, torch.Tensor]:
        """The CTC heads' log-probabilities averaged over the models (B, T', V), and each row's frames (B,)."""
        logp = torch.stack([torch.log_softmax(m.encoder.ctc_logits(e).float(), -1)
                            for m, e in zip(self.models, enc.outputs)]).mean(0)
        return logp, enc.outputs[0].mask.sum(1)

    def ctc_decode(self, enc: Encoded, s: SearchConfig) -> list[Result]:
        """CTC alone: greedy at beam 1, else prefix beam search; the n best by total log-probability."""
        logp, frames = self.ctc_logprobs(enc)
        out = []
        for row, n in zip(logp.cpu(), frames.tolist()):
            if s.beam == 1:  # the best path, with its own log-probability
                path = row[:n].argmax(-1)
                found = [(ctc.collapse(path.tolist()), float(row[torch.arange(n), path].sum()))]
            else:
                found = ctc.prefix_beam(row[:n], beam=s.beam)
            best = found[: s.nbest]
            texts = self.tgt_tok.decode([ids for ids, _ in best])
            out.append(Result(texts[0], best[0][1], list(zip(texts, [sc for _, sc in best])),
                              self.tgt_tok.pieces(best[0][0]) + ["</s>"]))
        return out

    def rescore(self, enc: Encoded, results: list[Result], s: SearchConfig) -> list[Result]:
        """Joint decoding: each utterance's attention n-best reordered by w x log p_CTC + (1 - w) x its score."""
        logp, frames = self.ctc_logprobs(enc)
        w = s.ctc_weight
        out = []
        for k, r in enumerate(results):
            texts = [t for t, _ in r.nbest]
            ids = self.tgt_tok.encode(texts)
            n = len(ids)
            targets = torch.tensor([t for seq in ids for t in seq], dtype=torch.long)
            ll = -F.ctc_loss(logp[k : k + 1, : frames[k]].transpose(0, 1).expand(-1, n, -1).cpu(), targets,
                             frames[k : k + 1].expand(n).cpu(), torch.tensor([len(t) for t in ids]),
                             blank=ctc.BLANK, reduction="none", zero_infinity=False)
            joint = [w * float(c) + (1 - w) * a for c, (_, a) in zip(ll, r.nbest)]
            ranked = sorted(range(n), key=lambda j: joint[j], reverse=True)[: s.nbest]
            best = ranked[0]
            out.append(Result(texts[best], joint[best], [(texts[j], joint[j]) for j in ranked],
                              self.tgt_tok.pieces(ids[best]) + ["</s>"],
                              attention=r.attention if best == 0 else None))  # the attention is of the first
        return out
