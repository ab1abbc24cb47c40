"""One training loop: teacher forcing, label-smoothed cross-entropy, clipping, LR schedule, validation BLEU,
early stopping, atomic checkpoints and exact resume.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from seq2seq import UserError, checkpoint
from seq2seq.batching import token_batches
from seq2seq.config import Config, TrainConfig
from seq2seq.metrics import bleu
from seq2seq.model import build_model
from seq2seq.model.seq2seq import count_parameters
from seq2seq.tasks import make_task
from seq2seq.tokenizer import PAD
from seq2seq.loading import resolve_device


class TrainingError(UserError):
    """Training cannot go on (e.g. a non-finite loss); the last good checkpoint is kept."""


class LRSchedule:
    """Linear warm-up, then constant, inverse square root, or reduce-on-plateau of validation BLEU."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.scale = 1.0  # plateau decay so far
        self.best = -math.inf
        self.bad = 0

    def lr(self, step: int) -> float:
        c = self.cfg
        warm = min(1.0, step / c.warmup_steps) if c.warmup_steps else 1.0
        if c.schedule == "inverse_sqrt":
            w = max(c.warmup_steps, 1)
            return c.lr * (warm if step < w else math.sqrt(w / max(step, 1)))
        return max(c.lr * self.scale, c.min_lr) * warm if c.schedule == "plateau" else c.lr * warm

    def on_validation(self, metric: float) -> None:
        if metric > self.best:
            self.best, self.bad = metric, 0
            return
        self.bad += 1
        if self.cfg.schedule == "plateau" and self.bad > self.cfg.decay_patience:
            self.scale *= self.cfg.decay_factor
            self.bad = 0

    def state_dict(self) -> dict:
        return {"scale": self.scale, "best": self.best, "bad": self.bad}

    def load_state_dict(self, d: dict) -> None:
        self.scale, self.best, self.bad = d["scale"], d["best"], d["bad"]


def _rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    """Generators take CPU byte tensors; a checkpoint loaded with map_location=cuda holds GPU copies."""
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in state["cuda"]])


class Trainer:
    """Trains `cfg` into `cfg.model_dir`; `resume=True` continues exactly from `last.pt`."""

    def __init__(self, cfg: Config, resume: bool = False, progress: bool | None = None, log_stream=None):
        self.cfg = cfg
        self.dir = Path(cfg.model_dir)
        self.log_stream = log_stream or sys.stderr
        self.progress = sys.stderr.isatty() if progress is None else progress
        if resume and not (self.dir / "last.pt").is_file():
            raise UserError(f"--resume: no checkpoint to resume from in {self.dir} (last.pt is missing)")
        if not resume and (self.dir / "last.pt").is_file():
            raise UserError(f"{self.dir} already holds a training run; use --resume to continue it, "
                            f"or set model_dir to a new folder")
        if resume:  # the saved config is the run's config; command-line overrides may change train/search only
            saved = self._saved_config()
            if saved.model != cfg.model or saved.data.joint_vocab != cfg.data.joint_vocab:
                raise UserError("--resume: model or vocabulary settings differ from the saved run's config.yaml")
        self.dir.mkdir(parents=True, exist_ok=True)
        t = cfg.train
        if t.threads:
            torch.set_num_threads(t.threads)
        self.device = resolve_device(t.device)
        random.seed(t.seed)
        torch.manual_seed(t.seed)
        self.task = make_task(cfg, self.dir, self.say)
        self.src_tok, self.tgt_tok = self.task.src_tok, self.task.tgt_tok
        cfg.save(self.dir / "config.yaml")
        self.model = build_model(cfg.model, len(self.src_tok), len(self.tgt_tok)).to(self.device)
        self.task.attach(self.model, self.device)
        opt_cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(self.model.parameters(), lr=t.lr, betas=t.betas, weight_decay=t.weight_decay)
        self.schedule = LRSchedule(t)
        self.step, self.epoch, self.pos = 0, 0, 0  # pos: batches done in the current epoch
        self.best_bleu, self.bad_validations = -1.0, 0
        self._started: float | None = None
        self.elapsed = 0.0  # wall-clock seconds spent training before this process (restored by --resume)
        self.amp = t.amp and self.device.type == "cuda"
        self.say(f"model: {count_parameters(self.model):,} parameters; vocab {len(self.src_tok)}/{len(self.tgt_tok)}; "
                 f"device {self.device}")
        if resume:
            self._restore(checkpoint.load(self.dir / "last.pt", map_location=self.device))
            self.say(f"resumed from {self.dir / 'last.pt'} at step {self.step}")

    def _saved_config(self) -> Config:
        from seq2seq.config import load_config

        return load_config(self.dir / "config.yaml")

    # -- logging -----------------------------------------------------------------------------------------
    def say(self, msg: str) -> None:
        print(msg, file=self.log_stream, flush=True)

    def _log(self, record: dict) -> None:
        with open(self.dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    # -- checkpoints -------------------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "step": self.step, "epoch": self.epoch, "pos": self.pos,
                "best_bleu": self.best_bleu, "bad_validations": self.bad_validations, "rng": _rng_state(),
                "elapsed": self._elapsed(),
                "config": self.cfg.to_dict()}

    def _restore(self, s: dict) -> None:
        self.model.load_state_dict(s["model"])
        self.optimizer.load_state_dict(s["optimizer"])
        self.schedule.load_state_dict(s["schedule"])
        self.step, self.epoch, self.pos = s["step"], s["epoch"], s["pos"]
        self.best_bleu, self.bad_validations = s["best_bleu"], s["bad_validations"]
        self.elapsed = s.get("elapsed", 0.0)
        _set_rng_state(s["rng"])

    def _elapsed(self) -> float:
        """Wall-clock training seconds so far, over all runs of this model directory."""
        return self.elapsed + (time.perf_counter() - self._started if self._started is not None else 0.0)

    def out_of_time(self) -> bool:
        budget = self.cfg.train.max_minutes
        return bool(budget) and self._elapsed() >= budget * 60

    def save_last(self) -> None:
        checkpoint.save(self._state(), self.dir / "last.pt")

    # -- one step ----------------------------------------------------------------------------------------
    def loss(self, batch, reduction: str = "sum", smoothing: float | None = None) -> torch.Tensor:
        """Label-smoothed cross-entropy over target tokens (padding ignored)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            logits, attn = self.model(batch.src, batch.src_lengths.to(self.device), batch.tgt_in)
        ls = self.cfg.train.label_smoothing if smoothing is None else smoothing
        loss = F.cross_entropy(logits.float().flatten(0, 1), batch.tgt_out.flatten(), ignore_index=PAD,
                               label_smoothing=ls, reduction=reduction)
        lam = self.cfg.train.attn_reg
        if lam and attn is not None and self.model.training:  # doubly stochastic attention regularisation
            steps = (batch.tgt_out != PAD).unsqueeze(-1).float()  # (B, T, 1)
            coverage = (attn.float() * steps).sum(1)  # (B, S): total attention each memory cell received
            loss = loss + lam * ((1.0 - coverage) ** 2).sum()
        return loss

    def train_step(self, batch) -> tuple[float, float]:
        self.model.train()
        n_tokens = batch.n_tgt_tokens
        loss = self.loss(batch) / n_tokens
        if not torch.isfinite(loss):
            raise TrainingError(f"non-finite training loss ({loss.item()}) at step {self.step + 1}; stopped. "
                                f"The last good checkpoint is {self.dir / 'last.pt'}; lower train.lr or "
                                f"set train.clip_norm, then --resume")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.cfg.train.clip_norm
        params = self.model.parameters()
        norm = torch.nn.utils.clip_grad_norm_(params, clip if clip > 0 else float("inf"))
        if not torch.isfinite(norm):
            raise TrainingError(f"non-finite gradient norm at step {self.step + 1}; stopped. The last good "
                                f"checkpoint is {self.dir / 'last.pt'}")
        self.step += 1
        for group in self.optimizer.param_groups:
            group["lr"] = self.schedule.lr(self.step)
        self.optimizer.step()
        return loss.item(), float(norm)

    # -- validation --------------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict:
        """Validation loss (no smoothing, per token) and BLEU of the decoded validation set."""
        self.model.eval()
        total, n = 0.0, 0
        for batch in self.task.valid_batches(self.cfg.train.batch_tokens):
            batch = batch.to(self.device)
            total += self.loss(batch, smoothing=0.0).item()
            n += batch.n_tgt_tokens
        search = replace(self.cfg.search, beam=self.cfg.train.valid_beam, nbest=1)
        hyps = self.task.decode_valid(self.model, search, self.device)
        loss = total / max(n, 1)
        return {"loss": loss, "ppl": math.exp(min(loss, 50)), "bleu": bleu(hyps, self.task.valid_refs),
                "example": hyps[0] if hyps else ""}

    def _after_validation(self, v: dict) -> bool:
        """Checkpoints and early stopping; True when training should stop."""
        self.schedule.on_validation(v["bleu"])
        improved = v["bleu"] > self.best_bleu
        if improved:
            self.best_bleu, self.bad_validations = v["bleu"], 0
            checkpoint.save({"model": self.model.state_dict(), "step": self.step, "bleu": v["bleu"]},
                            self.dir / "best.pt")
        else:
            self.bad_validations += 1
        keep = self.cfg.train.keep_last
        if keep:
            checkpoint.save({"model": self.model.state_dict(), "step": self.step},
                            self.dir / f"step-{self.step}.pt")
            for old in checkpoint.step_checkpoints(self.dir)[:-keep]:
                old.unlink()
        self.save_last()
        self._log({"type": "valid", "step": self.step, "epoch": self.epoch, "loss": round(v["loss"], 4),
                   "ppl": round(v["ppl"], 2), "bleu": v["bleu"], "best_bleu": self.best_bleu,
                   "lr": self.optimizer.param_groups[0]["lr"], "time": time.time()})
        self.say(f"step {self.step} | valid loss {v['loss']:.3f} ppl {v['ppl']:.2f} BLEU {v['bleu']:.2f} "
                 f"(best {self.best_bleu:.2f}){' *' if improved else ''} | e.g. {v['example'][:80]!r}")
        es = self.cfg.train.early_stopping
        if es and self.bad_validations >= es:
            self.say(f"early stopping: no BLEU improvement in {es} validations")
            return True
        return False

    # -- the loop ----------------------------------------------------------------------------------------
    def train(self) -> dict:
        """Train until max_steps, max_epochs or early stopping; returns a summary."""
        t = self.cfg.train
        src_lens, tgt_lens = self.task.lengths()
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=t.max_steps, initial=self.step, unit="step", dynamic_ncols=True, file=sys.stderr)
        window_tokens, window_loss, window_steps, window_start = 0, 0.0, 0, time.perf_counter()
        train_tokens, train_time = 0, 0.0
        stop = self.step >= t.max_steps
        self._started = time.perf_counter()
        try:
            while not stop and self.epoch < t.max_epochs:
                batches = token_batches(src_lens, tgt_lens, t.batch_tokens, seed=t.seed, epoch=self.epoch)
                while self.pos < len(batches):
                    idx = batches[self.pos]
                    batch = self.task.batch(idx).to(self.device)
                    tic = time.perf_counter()
                    loss, norm = self.train_step(batch)
                    self.pos += 1
                    n = batch.n_tgt_tokens
                    train_tokens += n
                    train_time += time.perf_counter() - tic
                    window_tokens += n
                    window_loss += loss
                    window_steps += 1
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{train_tokens / max(train_time, 1e-9):.0f}")
                    if self.step % t.log_every == 0:
                        elapsed = time.perf_counter() - window_start
                        rec = {"type": "train", "step": self.step, "epoch": self.epoch,
                               "loss": round(window_loss / window_steps, 4), "grad_norm": round(norm, 3),
                               "lr": self.optimizer.param_groups[0]["lr"],
                               "tok_s": round(window_tokens / max(elapsed, 1e-9), 1), "time": time.time()}
                        self._log(rec)
                        if bar is None:
                            self.say(f"step {rec['step']} | epoch {self.epoch} | loss {rec['loss']:.3f} | "
                                     f"lr {rec['lr']:.2e} | {rec['tok_s']:.0f} tgt tok/s")
                        window_tokens, window_loss, window_steps = 0, 0.0, 0
                        window_start = time.perf_counter()
                    out_of_time = self.out_of_time()
                    if self.step % t.valid_every == 0 or self.step >= t.max_steps or out_of_time:
                        v = self.validate()
                        stop = self._after_validation(v) or self.step >= t.max_steps or out_of_time
                        if out_of_time:
                            self.say(f"time budget of {t.max_minutes:g} minutes reached at step {self.step}")
                        if stop:
                            break
                else:
                    self.epoch += 1
                    self.pos = 0
                    continue
                break
            if not stop:  # ran out of epochs
                self._after_validation(self.validate())
        except KeyboardInterrupt:
            self.save_last()
            self.say(f"interrupted: saved {self.dir / 'last.pt'} at step {self.step}; continue with --resume")
            raise
        finally:
            if bar is not None:
                bar.close()
        return {"step": self.step, "best_bleu": self.best_bleu, "minutes": self._elapsed() / 60,
                "train_tok_s": train_tokens / max(train_time, 1e-9), "model_dir": str(self.dir)}
