"""Files written atomically (write, fsync, rename: a kill or a full disk never leaves half a file) and tensors
loaded with weights_only=True (a file that carries pickled code is refused, never run)."""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch

from seq2seq.errors import UserError


class _Writes:
    """A file whose failed write is kept: torch.save reports a full disk as RuntimeError("unexpected pos ...")."""

    def __init__(self, f):
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()


@contextmanager
def _atomic(path: Path):
    """A binary file to write, in the same folder, that takes `path`'s name only once complete (fsync, rename):
    a crash or a full disk never leaves half a file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Bytes (or UTF-8 text) to `path` atomically."""
    with _atomic(Path(path)) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def save(obj: dict, path: str | Path) -> None:
    """torch.save, atomically. A failed write (full disk, ...) is raised as its OSError."""
    with _atomic(Path(path)) as f:
        out = _Writes(f)
        try:
            torch.save(obj, out)
        except RuntimeError:
            if out.error is None:
                raise
            raise out.error from None


def load(path: str | Path, map_location="cpu", what: str = "checkpoint", hint: str = "") -> dict:
    """torch.load of tensors and plain data only (weights_only=True): a file from elsewhere that carries pickled
    objects, which unpickling could let run code, is refused, never run. `what` names the file in the one-line
    errors, `hint` says how to fix an unreadable one."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        unsafe = isinstance(e, pickle.UnpicklingError) and re.search(r"GLOBAL ([\w.]+)", str(e))
        if unsafe:  # the weights-only unpickler met a class or function it does not allow
            raise UserError(f"refused to load {path}: it holds pickled Python objects ({unsafe[1]}), and unpickling "
                            f"them can run code; a {what} may hold only tensors, numbers, strings, lists and dicts"
                            ) from None
        raise UserError(f"{path}: not a readable {what} ({type(e).__name__}: truncated, or not written by "
                        f"torch.save){'; ' + hint if hint else ''}") from None
