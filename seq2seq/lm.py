"""LanguageModel: a trained RNN language model (model.encoder=none) that scores sentences (log-probabilities,
perplexity) and generates them (sampling, greedy or beam, from optional prefixes). The language model of shallow
fusion is loaded by `seq2seq.loading.fusion_lm` and combined with a translator or captioner by
`seq2seq.decode.combine.search_inputs`.

    from seq2seq import LanguageModel
    lm = LanguageModel.load("runs/lm-en")
    lm.score(["A dog runs."]).perplexity
    lm.generate(["A dog"], num=3, top_p=0.9, seed=1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from seq2seq.config import MAX_BEAM, SearchConfig
from seq2seq.data.batching import lm_batch, pad
from seq2seq.data.tokenizer import PAD, Tokenizer
from seq2seq.decode.fast import FastStep
from seq2seq.decode.sampling import sample
from seq2seq.decode.search import NINF, beam_search, greedy_search
from seq2seq.engine import Engine
from seq2seq.errors import UserError
from seq2seq.inputs import check_texts
from seq2seq.loading import Loaded
from seq2seq.model.interface import DecoderState, EncoderOutput

MAX_GENERATIONS = 10_000  # continuations per prefix at most: each is a row of every batch


@dataclass
class Scores:
    """Per sentence its total log-probability (natural log, </s> included) and token count (pieces + </s>); the
    corpus totals, and the word count (whitespace-separated words + one </s> per sentence)."""

    logprobs: list[float]
    tokens: list[int]
    words: int

    @property
    def perplexity(self) -> float:
        """Per sentencepiece token (</s> included): exp(-total log-probability / tokens)."""
        return math.exp(-sum(self.logprobs) / max(1, sum(self.tokens)))

    @property
    def word_perplexity(self) -> float:
        """Per word (</s> counted as one): comparable across tokenizers."""
        return math.exp(-sum(self.logprobs) / max(1, self.words))


@dataclass
class Generation:
    text: str  # the prefix and its continuation, detokenized
    score: float  # log-probability of the continuation (</s> included), by the model itself


@dataclass
class PrefixState:
    """The decoder's state, plus each row's prefix (b, P), PAD-padded, and the step count."""

    inner: DecoderState
    prefix: torch.Tensor
    t: int

    def select(self, index: torch.Tensor) -> "PrefixState":
        return PrefixState(self.inner.select(index), self.prefix.index_select(0, index), self.t)


class Prefixed:
    """Stepper: the wrapped one, with each row's first tokens forced to its prefix (log-probability 0, so scores
    count the continuation only). Rows whose prefix has ended step freely."""

    def __init__(self, inner, prefix: torch.Tensor):
        self.inner, self.prefix, self.columns = inner, prefix, inner.columns  # prefix (B, P)

    def precompute(self, enc: EncoderOutput):
        return self.inner.precompute(enc)

    def init_state(self, enc: EncoderOutput) -> PrefixState:
        return PrefixState(self.inner.init_state(enc), self.prefix, 0)

    def step(self, tokens, state: PrefixState, enc, keys, group: int = 1):
        logits, inner, attn = self.inner.step(tokens, state.inner, enc, keys, group)
        if state.t < state.prefix.size(1):
            forced = state.prefix[:, state.t]  # (b,)
            rows = (forced != PAD).nonzero().squeeze(1)
            logits = logits.float().index_fill(0, rows, NINF)
            logits[rows, forced[rows]] = 0.0
        return logits, PrefixState(inner, state.prefix, state.t + 1), attn


def _check_generation(num: int, beam: int | None, temperature: float, top_k: int, top_p: float,
                      max_tokens: int) -> None:
    if not (isinstance(num, int) and 1 <= num <= MAX_GENERATIONS and isinstance(max_tokens, int)
            and 1 <= max_tokens <= 10_000):
        raise UserError(f"need 1 <= num <= {MAX_GENERATIONS} and 1 <= max_tokens <= 10000")
    if beam is not None:
        if not (isinstance(beam, int) and 1 <= num <= beam <= MAX_BEAM):
            raise UserError(f"beam search gives the num best of beam: need 1 <= num ({num}) <= beam ({beam}) <= "
                            f"{MAX_BEAM}")
        return
    if not (isinstance(temperature, (int, float)) and 0 < temperature < math.inf):
        raise UserError(f"temperature must be > 0 for sampling, got {temperature!r} (for the most likely "
                        f"continuation, use beam 1: greedy)")
    if not (isinstance(top_k, int) and top_k >= 0):
        raise UserError(f"top-k must be an integer >= 0 (0: off), got {top_k!r}")
    if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise UserError(f"top-p must be in (0, 1] (1: off), got {top_p!r}")


class LanguageModel(Engine):
    """A language model ready to score and generate: `model` (an EncoderDecoder whose encoder is NoEncoder) and
    its sentencepiece model."""

    task = "lm"

    def __init__(self, model: torch.nn.Module, tok: Tokenizer, device: torch.device | str = "cpu", config=None,
                 model_dir: Path | None = None):
        super().__init__(model, tok, device=device, config=config, model_dir=model_dir)

    @classmethod
    def load(cls, name_or_dir: str | Path, device: str = "auto", *, checkpoint: str | None = None) -> LanguageModel:
        """A language model directory (or shipped name); `checkpoint` best | last | average as for Translator."""
        return super().load(name_or_dir, device, checkpoint=checkpoint, ensemble=False)

    @classmethod
    def from_loaded(cls, loaded: list[Loaded], search: SearchConfig) -> LanguageModel:
        m = loaded[0]
        return cls(m.model, m.tgt_tok, m.device, m.config, m.model_dir)

    @torch.inference_mode()
    def score(self, texts: Sequence[str], batch_size: int = 64) -> Scores:
        """Each sentence's log-probability and token count, in order (sorted by length inside, for speed)."""
        texts = check_texts(texts)
        ids = self.tok.encode(texts) if texts else []
        logprobs = [0.0] * len(ids)
        self.model.eval()
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for s in range(0, len(order), batch_size):
            chunk = order[s : s + batch_size]
            b = lm_batch([ids[i] for i in chunk]).to(self.device)
            logits, _ = self.model(b.src, b.src_lengths.to(self.device), b.tgt_in)  # (B, T, V)
            gold = torch.log_softmax(logits.float(), -1).gather(-1, b.tgt_out.unsqueeze(-1)).squeeze(-1)  # (B, T)
            for i, lp in zip(chunk, gold.masked_fill(b.tgt_out == PAD, 0.0).sum(1).tolist()):
                logprobs[i] = lp
        return Scores(logprobs, [len(s) + 1 for s in ids], sum(len(t.split()) + 1 for t in texts))

    def generate(self, prefixes: Sequence[str] = ("",), num: int = 1, *, beam: int | None = None,
                 temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
                 max_tokens: int = 50, alpha: float = 0.0, batch_size: int = 64) -> list[list[Generation]]:
        """Per prefix ("" : from <s>), `num` continuations: samples (temperature, top_k, top_p; `seed` makes them
        reproducible), or with `beam` the num best of beam search (beam 1: greedy). At most `max_tokens` new
        tokens, </s> included."""
        _check_generation(num, beam, temperature, top_k, top_p, max_tokens)
        ids = self.tok.encode(check_texts(prefixes))
        per = 1 if beam is not None else num  # sampling: num rows per prefix; beam: its n best
        rows = [p for p in ids for _ in range(per)]
        gen = torch.Generator(self.device).manual_seed(seed) if seed is not None else None
        self.model.eval()
        out: list[Generation] = []
        with torch.inference_mode():
            for s in range(0, len(rows), batch_size):
                chunk = rows[s : s + batch_size]
                b = lm_batch(chunk).to(self.device)
                enc = self.model.encode(b.src, b.src_lengths.to(self.device))
                stepper = Prefixed(FastStep(self.model.decoder), pad(chunk).to(self.device))
                max_len = torch.tensor([len(p) + max_tokens for p in chunk])
                if beam is None:
                    hyp = sample(stepper, enc, max_len, temperature, top_k, top_p, gen)
                elif beam == 1:
                    hyp = greedy_search(stepper, enc, max_len)
                else:
                    hyp = beam_search(stepper, enc, max_len, beam, alpha, num)
                for k in range(len(chunk)):
                    out += [Generation(t, sc) for t, sc in zip(self.tok.decode(hyp.tokens[k]), hyp.scores[k])]
        return [out[i * num : (i + 1) * num] for i in range(len(ids))]
