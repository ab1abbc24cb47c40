"""A training run's folder and process: the lock that keeps a second trainer out, log.jsonl, leftover temporary
files, write errors as one-line `UserError`s, and SIGINT/SIGTERM turned into a clean stop at a step boundary.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from seq2seq.errors import UserError
from seq2seq.files import save as save_atomic
from seq2seq.files import write_atomic
from seq2seq.modeldir import step_checkpoints

LOCK = "train.lock"
LOG = "log.jsonl"


class Interrupted(KeyboardInterrupt):
    """Training stopped by a signal after saving last.pt; the process should exit with 128 + signum."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextmanager
def writing(target: Path | str):
    """Turn an OSError (full disk, read-only or unwritable folder, a file where a folder should be) into one line
    naming what could not be written; atomic writes leave what was saved before intact."""
    try:
        yield
    except OSError as e:
        where = e.filename or target  # the file the system names, else the one being written
        raise UserError(f"cannot write {where}: {e.strerror or e}; files saved before are unchanged") from None


class RunDir:
    """The model directory of one training run, locked for this process from `open` to `release`."""

    def __init__(self, path: Path | str, say=print):
        self.path, self.say = Path(path), say
        self._lock = None

    def open(self) -> "RunDir":
        """Create the folder, take its lock (refused while another trainer holds it) and remove the temporary
        files a killed run left behind."""
        if self.path.exists() and not self.path.is_dir():
            raise UserError(f"model_dir {self.path} is a file, not a folder")
        with writing(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
        with writing(self.path / LOCK):
            self._take_lock()
        self._clean_temporary_files()
        return self

    def _take_lock(self) -> None:
        import fcntl  # POSIX: the kernel drops the lock when its process dies, so a crash never leaves it held

        path = self.path / LOCK
        while True:
            f = open(path, "a+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                pid = f.read().strip() or "unknown"
                f.close()
                raise UserError(f"{self.path} is in use by another trainer (PID {pid}, lock {path}); wait for it "
                                f"to finish or stop it, or train into another model_dir") from None
            try:  # the holder may have released (and deleted) the file between our open and our flock
                same = os.stat(path).st_ino == os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            f.close()
        f.seek(0)
        previous = f.read().strip()
        if previous and previous != str(os.getpid()):
            self.say(f"note: took over the lock {path} of trainer PID {previous}, which is no longer running")
        self._lock = f
        try:
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
        except OSError:
            self.release()
            raise

    def release(self) -> None:
        """Delete the lock file and drop the lock (deleted first, so a waiting opener sees a new file)."""
        if self._lock is not None:
            (self.path / LOCK).unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def _clean_temporary_files(self) -> None:
        """`*.tmp` files are atomic writes that a kill interrupted; only the lock holder may remove them."""
        orphans = sorted(self.path.glob("*.tmp"))
        for p in orphans:
            p.unlink(missing_ok=True)
        if orphans:
            self.say(f"removed {len(orphans)} unfinished temporary file(s) left by an interrupted run: "
                     f"{', '.join(p.name for p in orphans)}")

    # -- log.jsonl -------------------------------------------------------------------------------------------
    def log(self, record: dict) -> None:
        with writing(self.path / LOG), open(self.path / LOG, "a") as f:
            f.write(json.dumps(record) + "\n")

    def trim_log(self, step: int) -> None:
        """Keep only the rows up to `step` (the state being resumed): rows a run wrote after its last.pt, and
        half-written lines, would otherwise repeat or garble the log. Rewritten atomically."""
        path = self.path / LOG
        if not path.is_file():
            return
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        kept = []
        for line in lines:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and row.get("step", 0) <= step:
                kept.append(line)
        if len(kept) == len(lines):
            return
        with writing(path):
            write_atomic(path, "".join(line + "\n" for line in kept))
        self.say(f"log: dropped {len(lines) - len(kept)} row(s) past step {step} (written after the last "
                 f"checkpoint, or half-written)")

    def save(self, obj: dict, name: str) -> None:
        with writing(self.path / name):
            save_atomic(obj, self.path / name)

    def save_step(self, obj: dict, keep: int) -> None:
        """step-N.pt for `obj["step"]`, keeping the last `keep` of them."""
        self.save(obj, f"step-{obj['step']}.pt")
        with writing(self.path):
            for old in step_checkpoints(self.path)[:-keep]:
                old.unlink()


class NoRun:
    """What a torchrun rank other than 0 holds instead of the run directory: it writes nothing (rank 0 writes the
    checkpoints and the log, and holds the lock)."""

    def save(self, obj: dict, name: str) -> None:
        pass

    def save_step(self, obj: dict, keep: int) -> None:
        pass

    def log(self, record: dict) -> None:
        pass

    def trim_log(self, step: int) -> None:
        pass

    def release(self) -> None:
        pass


class StopSignals:
    """While active (main thread only), the first SIGINT or SIGTERM only records its number, so the loop can stop
    at the next step boundary and save a consistent last.pt; a second one raises KeyboardInterrupt at once. Under
    torchrun a Ctrl-C reaches each worker twice (from the terminal, then forwarded by torchrun): a second signal
    within `grace` seconds of the first counts as the same one."""

    def __init__(self, say=print, grace: float = 0.0):
        self.say, self.grace = say, grace
        self.received: int | None = None
        self._at = 0.0
        self._old: dict = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)
        self._old = {}

    def _handle(self, signum: int, frame) -> None:
        if self.received is not None:
            if time.monotonic() - self._at < self.grace:
                return
            raise KeyboardInterrupt
        self.received, self._at = signum, time.monotonic()
        try:
            self.say(f"{signal.Signals(signum).name}: stopping after the step in progress and saving last.pt "
                     f"(send it again to stop at once, without saving)")
        except (RuntimeError, OSError, ValueError):  # a reentrant write into the stream being written
            pass
