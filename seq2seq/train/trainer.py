"""One training loop for every task (seq2seq.train.tasks) and objective (seq2seq.train.objectives): clipping, LR
schedule, validation by the run's metric (seq2seq.train.validation), early stopping, divergence checks, atomic
checkpoints and exact resume (seq2seq.train.resume); in one process or data-parallel under torchrun
(seq2seq.train.distributed), with gradient accumulation.
"""

from __future__ import annotations

import math
import random
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from seq2seq.config import Config
from seq2seq.data.batching import Batch, bucket_batches, step_share
from seq2seq.errors import UserError
from seq2seq.loading import resolve_device
from seq2seq.model import build_model
from seq2seq.model.build import count_parameters
from seq2seq.modeldir import CONFIG, read_config
from seq2seq.train.distributed import Dist
from seq2seq.train.export import init_from
from seq2seq.train.objectives import CrossEntropy, cross_entropy
from seq2seq.train.resume import (
    Parts,
    TrainState,
    load_last,
    restore,
    seed_rank,
    state_dict,
)
from seq2seq.train.rundir import Interrupted, NoRun, RunDir, StopSignals, writing
from seq2seq.train.schedule import LossWatch, LRSchedule, Meter
from seq2seq.train.scst import SelfCritical
from seq2seq.train.tasks import make_task
from seq2seq.train.validation import Best

__all__ = ["LRSchedule", "Trainer", "TrainingError"]

# train.objective -> its seq2seq.train.objectives.Objective, made as cls(cfg, task, amp)
OBJECTIVES = {"xent": CrossEntropy, "scst": SelfCritical}


class TrainingError(UserError):
    """Training cannot go on (a diverging or non-finite loss); the last good checkpoint is kept."""


class Trainer:
    """Trains `cfg` into `cfg.model_dir`, which it locks; `resume=True` continues exactly from `last.pt`."""

    def __init__(self, cfg: Config, resume: bool = False, progress: bool | None = None, log_stream=None):
        self.cfg = cfg
        self.dir = Path(cfg.model_dir)
        self.log_stream = log_stream or sys.stderr
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.dist, self.device = Dist.from_env(resolve_device(cfg.train.device))  # one process: Dist()
        self.progress = self.dist.main and (sys.stderr.isatty() if progress is None else progress)
        if resume and self.dist.main and not (self.dir / "last.pt").is_file():
            raise UserError(f"--resume: no checkpoint to resume from in {self.dir} (last.pt is missing)")
        self.run = RunDir(self.dir, self.say).open() if self.dist.main else NoRun()  # rank 0 writes, alone
        try:
            self._setup(resume)
        except BaseException:
            self.run.release()
            self.dist.close()
            raise

    def _setup(self, resume: bool) -> None:
        cfg, t, main = self.cfg, self.cfg.train, self.dist.main
        if main and not resume and (self.dir / "last.pt").is_file():
            raise UserError(f"{self.dir} already holds a training run; use --resume to continue it, "
                            f"or set model_dir to a new folder")
        if main and resume:  # the saved config is the run's config; command-line overrides may change train/search
            saved = read_config(self.dir)
            if saved.model != cfg.model or saved.data.joint_vocab != cfg.data.joint_vocab:
                raise UserError("--resume: model or vocabulary settings differ from the saved run's config.yaml")
        random.seed(t.seed)
        torch.manual_seed(t.seed)
        with writing(self.dir):  # trains and writes the tokenizer(s) and the shortlist on a first run
            self.task = make_task(cfg, self.dir, self.say, self.dist)
        self.src_tok, self.tgt_tok = self.task.src_tok, self.task.tgt_tok
        if main:
            with writing(self.dir / CONFIG):
                cfg.save(self.dir / CONFIG)
        self.model = build_model(cfg.model, len(self.src_tok), len(self.tgt_tok)).to(self.device)
        if t.init_from and not resume:
            copied, kept = init_from(self.model, t.init_from, tuple(t.init_parts))
            self.say(f"initialised {len(copied)} tensors from {t.init_from} ({len(kept)} under "
                     f"{'/'.join(t.init_parts)} kept fresh: {', '.join(kept[:4]) or 'none'}{' ...' if len(kept) > 4 else ''})")
        self.task.attach(self.model, self.device)
        opt_cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(self.model.parameters(), lr=t.lr, betas=t.betas, weight_decay=t.weight_decay)
        self.amp = t.amp and self.device.type == "cuda"
        self.objective = OBJECTIVES[t.objective](cfg, self.task, self.amp)
        self.schedule, self.meter = LRSchedule(t), Meter()
        self.watch = LossWatch(len(self.tgt_tok), finite_only=self.objective.finite_only)
        self.metric = self.task.valid_metric(t.valid_metric, self.say)
        self.parts = Parts(self.model, self.optimizer, self.schedule, self.watch, self.meter, self.objective,
                           self.metric)
        self.step, self.epoch, self.pos = 0, 0, 0  # pos: batches done in the current epoch
        self.best, self.bad_validations = Best(), 0
        self.saved_step: int | None = None  # the step of last.pt on disk
        self._started: float | None = None
        self.elapsed = 0.0  # wall-clock seconds spent training before this process (restored by --resume)
        world = f"; {self.dist.world} processes" if self.dist.world > 1 else ""
        self.say(f"model: {count_parameters(self.model):,} parameters; vocab {len(self.src_tok)}/{len(self.tgt_tok)}; "
                 f"device {self.device}{world}")
        last = load_last(self.dir, self.dist, self.device) if resume else {}
        if resume:
            at = restore(last, self.parts, t.valid_metric, self.say)
            self.step, self.epoch, self.pos, self.best = at.step, at.epoch, at.pos, at.best
            self.bad_validations, self.elapsed, self.saved_step = at.bad_validations, at.elapsed, at.step
            self.say(f"resumed from {self.dir / 'last.pt'} at step {self.step}")
        seed_rank(self.dist, last.get("rng_ranks"), t.seed, self.step)
        self.net = self.dist.wrap(self.model)  # DistributedDataParallel under torchrun; the model itself in one process
        self.run.trim_log(self.step)

    def say(self, msg: str) -> None:
        if self.dist.main:
            print(msg, file=self.log_stream, flush=True)

    def _elapsed(self) -> float:
        """Wall-clock training seconds so far, over all runs of this model directory."""
        return self.elapsed + (time.perf_counter() - self._started if self._started is not None else 0.0)

    def out_of_time(self) -> bool:
        budget = self.cfg.train.max_minutes
        return bool(budget) and self._elapsed() >= budget * 60

    # -- one step ----------------------------------------------------------------------------------------
    def _diverged(self, what: str) -> TrainingError:
        then = "then --resume" if self.saved_step is not None else "and train again"
        return TrainingError(f"training diverged at step {self.step + 1}: {what}; stopped. {self._last_good()}; "
                             f"lower train.lr or set train.clip_norm, {then}")

    def train_step(self, batches: Batch | list[Batch], n_tokens: int | None = None,
                   fill: int = 0) -> tuple[float, float]:
        """One update on this process's `batches` (micro-batches, their gradients summed), each loss divided by
        `n_tokens`, the target tokens of the whole step over all processes (default: those of `batches`), so
        the update is that of one process on the global batch. The last `fill` batches have zero weight: at an
        epoch's end a rank with fewer batches than the others still runs as many passes. Raises TrainingError,
        before updating, when the loss or the gradient diverges; every rank reaches the same decision (the loss
        is summed over the ranks, and the gradients, identical after DDP's sum, give the same norm)."""
        batches = [batches] if isinstance(batches, Batch) else batches
        n_tokens = n_tokens or sum(b.n_tgt_tokens for b in batches)
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        value = 0.0
        for k, batch in enumerate(batches):
            last = k == len(batches) - 1
            with nullcontext() if last or self.net is self.model else self.net.no_sync():  # sync once, at the end
                loss = self.objective.loss(self.model, self.net, batch) / n_tokens
                if k >= len(batches) - fill:
                    loss = loss * 0.0
                else:
                    value += loss.item()
                loss.backward()
        value = self.dist.sum(value)[0]
        problem = self.watch.problem(value)
        if problem:
            raise self._diverged(f"the training loss {problem}")
        clip = self.cfg.train.clip_norm
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip if clip > 0 else float("inf"))
        if not torch.isfinite(norm):
            raise self._diverged("the gradient norm is non-finite")
        self.watch.add(value)
        self.step += 1
        for group in self.optimizer.param_groups:
            group["lr"] = self.schedule.lr(self.step)
        self.optimizer.step()
        return value, float(norm)

    # -- validation --------------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict:
        """Validation loss (no smoothing, per token), and BLEU and the run's metric of the decoded validation set."""
        self.model.eval()
        d, total, n = self.dist, 0.0, 0
        for k, batch in enumerate(self.task.valid_batches(self.cfg.train.batch_tokens)):
            if k % d.world == d.rank:  # under torchrun each rank takes its share, and the sums are added up
                batch = batch.to(self.device)
                total += cross_entropy(self.model, batch, amp=self.amp)[0].item()  # no DDP hooks outside training
                n += batch.n_tgt_tokens
        total, n = d.sum(total, n)
        search = replace(self.cfg.search, beam=self.cfg.train.valid_beam, nbest=1)
        size = len(self.task.valid_refs[0])
        mine = self.task.decode_valid(self.model, search, self.device,
                                      slice(size * d.rank // d.world, size * (d.rank + 1) // d.world))
        hyps = [h for part in d.gather(mine) for h in part]
        v = None
        if d.main:
            loss = total / max(n, 1)
            bleu, score = self.metric.scores(hyps, self.task.valid_refs, loss)
            v = {"loss": loss, "ppl": math.exp(min(loss, 50)), "bleu": bleu, "score": score,
                 "example": hyps[0] if hyps else ""}
        return d.broadcast(v)  # every rank takes rank 0's numbers: the same best, schedule and early stopping

    def _after_validation(self, v: dict) -> bool:
        """best.pt, step and last checkpoints, the log row; True when early stopping says stop."""
        rank = self.metric.rank(v["score"], v["loss"])
        self.schedule.on_validation(rank)
        improved = self.best.rank is None or rank > self.best.rank
        if improved:
            self.best, self.bad_validations = Best(rank, v["score"], v["bleu"], self.step), 0
            self.run.save({"model": self.model.state_dict(), "step": self.step, "bleu": v["bleu"],
                           "metric": self.metric.name, "score": v["score"], "loss": v["loss"]}, "best.pt")
        else:
            self.bad_validations += 1
        if self.cfg.train.keep_last:  # for averaging
            self.run.save_step({"model": self.model.state_dict(), "step": self.step}, self.cfg.train.keep_last)
        self.save_last()
        self._log_validation(v, improved)
        es = self.cfg.train.early_stopping
        if es and self.bad_validations >= es:
            self.say(f"early stopping: no {self.metric.label} improvement in {es} validations")
            return True
        return False

    def _log_validation(self, v: dict, improved: bool) -> None:
        b = self.best
        self.run.log({"type": "valid", "step": self.step, "epoch": self.epoch, "loss": round(v["loss"], 4),
                      "ppl": round(v["ppl"], 2), "bleu": v["bleu"], "best_bleu": b.bleu, "metric": self.metric.name,
                      "score": v["score"], "best_score": b.score, "best_step": b.step,
                      "lr": self.optimizer.param_groups[0]["lr"], "time": time.time()})
        m = self.metric
        shown = "" if m.name == "bleu" else f" | {m.label} {m.show(v['score'])}"
        bleu = f" BLEU {v['bleu']:.2f}" if self.task.shows_bleu else ""
        self.say(f"step {self.step} | valid loss {v['loss']:.3f} ppl {v['ppl']:.2f}{bleu}{shown} "
                 f"(best {m.show(b.score)}{' *' if improved else f' at step {b.step}'}) | e.g. {v['example'][:80]!r}")

    # -- the loop ----------------------------------------------------------------------------------------
    def train(self) -> dict:
        """Train until max_steps, max_epochs, the time budget or early stopping; returns a summary. SIGINT or
        SIGTERM stops after the step in progress, saves last.pt and raises `rundir.Interrupted`."""
        t = self.cfg.train
        self._lengths = self.task.lengths()
        self._targets = np.asarray(self._lengths[1], dtype=np.int32) + 1  # each example's target tokens (+ EOS)
        self.stopping = self.step >= t.max_steps
        self._started = self.meter.w_start = time.perf_counter()
        try:
            grace = 5.0 if self.dist.world > 1 else 0.0
            with StopSignals(self.say, grace) as self.signals, self._progress_bar() as self.bar:
                while not self.stopping and self.epoch < t.max_epochs:
                    self._run_epoch()
                if not self.stopping:  # ran out of epochs
                    self._after_validation(self.validate())
            self.dist.barrier()  # every rank is done with the group before any tears it down (gloo aborted at exit)
        except KeyboardInterrupt as e:
            if not isinstance(e, Interrupted):
                self.say(f"stopped at once, without saving: {self._last_good()}")
            raise
        finally:
            self.run.release()
            self.dist.close()
        return self._summary()

    def _run_epoch(self) -> None:
        """The current epoch's batches from `self.pos` on, until the epoch ends or training should stop."""
        t = self.cfg.train
        batches = bucket_batches(*self._lengths, t.batch_tokens, seed=t.seed, epoch=self.epoch)  # same on all ranks
        while self.pos < len(batches):
            self._train_on(batches)
            if self.stopping:
                return
        self.epoch, self.pos = self.epoch + 1, 0

    def _train_on(self, batches) -> None:
        """One step on the epoch's next `accum_steps` x processes batches (this rank's share of them), its log row
        when due, validation when due; then a pending stop signal is obeyed."""
        d = self.dist
        share, span = step_share(self.pos, len(batches), d.world, self.cfg.train.accum_steps, d.rank)
        n_tokens = int(sum(self._targets[batches[i]].sum(dtype=np.int64) for i in range(self.pos, self.pos + span)))
        fill = -(-span // d.world) - len(share)  # every rank runs as many passes as rank 0 (DDP's collectives)
        mine = [self.task.batch(batches[i]).to(self.device) for i in share + [self.pos] * fill]
        tic = time.perf_counter()
        loss, norm = self.train_step(mine, n_tokens, fill)
        self.pos += span
        self.meter.add(n_tokens, loss, time.perf_counter() - tic)
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{self.meter.tok_s:.0f}")
        if self.step % self.cfg.train.log_every == 0:
            self._log_train(norm)
        late, signum = d.flags(self.out_of_time(), self.signals.received)  # rank 0's clock, any rank's signal
        self.stopping = self._validate_if_due(late)
        signum = self.signals.received if d.world == 1 else signum  # one process: also a signal during validation
        if not self.stopping and signum is not None:
            self.save_last()
            self.say(f"interrupted: saved {self.dir / 'last.pt'} at step {self.step}; continue with --resume")
            raise Interrupted(signum)

    def _log_train(self, norm: float) -> None:
        rec = {"type": "train", "step": self.step, "epoch": self.epoch, **self.meter.row(), **self.objective.row(),
               "grad_norm": round(norm, 3), "lr": self.optimizer.param_groups[0]["lr"], "time": time.time()}
        self.run.log(rec)
        if self.bar is None:
            self.say(f"step {rec['step']} | epoch {self.epoch} | loss {rec['loss']:.3f} | lr {rec['lr']:.2e} | "
                     f"{self.objective.rate(rec)}")

    def _validate_if_due(self, out_of_time: bool) -> bool:
        """Validate at every valid_every steps, at max_steps and when time is up; True when training should stop."""
        t = self.cfg.train
        if not (self.step % t.valid_every == 0 or self.step >= t.max_steps or out_of_time):
            return False
        stop = self._after_validation(self.validate())
        if out_of_time:
            self.say(f"time budget of {t.max_minutes:g} minutes reached at step {self.step}")
        return stop or self.step >= t.max_steps or out_of_time

    @contextmanager
    def _progress_bar(self):
        if not self.progress:
            yield None
            return
        from tqdm import tqdm  # lazy: keeps start-up fast

        bar = tqdm(total=self.cfg.train.max_steps, initial=self.step, unit="step", dynamic_ncols=True,
                   file=sys.stderr)
        try:
            yield bar
        finally:
            bar.close()

    def _summary(self) -> dict:
        b = self.best
        if b.step is not None:
            bleu = f" (BLEU {b.bleu:.2f})" if self.task.shows_bleu and self.metric.name != "bleu" else ""
            self.say(f"done at step {self.step}: best.pt is step {b.step}, picked by validation "
                     f"{self.metric.label} {self.metric.show(b.score)}{bleu}")
        return {"step": self.step, "metric": self.metric.name, "best_score": b.score, "best_step": b.step,
                "best_bleu": b.bleu, "minutes": self._elapsed() / 60, "train_tok_s": self.meter.tok_s,
                "model_dir": str(self.dir)}

    def save_last(self) -> None:
        """last.pt, written by rank 0; every rank calls it."""
        at = TrainState(self.step, self.epoch, self.pos, self.best, self.bad_validations, self._elapsed())
        self.run.save(state_dict(self.parts, at, self.cfg, self.dist), "last.pt")
        self.saved_step = self.step

    def _last_good(self) -> str:
        if self.saved_step is not None and (not self.dist.main or (self.dir / "last.pt").is_file()):
            return f"The last good checkpoint is {self.dir / 'last.pt'} (step {self.saved_step})"
        return (f"No checkpoint was saved before it ({self.dir} holds no last.pt; the first validation is at step "
                f"{self.cfg.train.valid_every})")
