"""Shared helpers: tiny generated data and tiny configs, so every test runs in seconds on a CPU."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from seq2seq.config import from_dict

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


def reverse_pairs(n: int, seed: int = 0, min_len: int = 2, max_len: int = 8) -> tuple[list[str], list[str]]:
    """Digit strings and their reversals: a task a small attention model learns in seconds."""
    r = random.Random(seed)
    src = [" ".join(r.choice("0123456789") for _ in range(r.randint(min_len, max_len))) for _ in range(n)]
    return src, [" ".join(s.split()[::-1]) for s in src]


def write_lines(path: Path, lines: list[str]) -> str:
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def reverse_files(folder: Path, n_train: int = 2000, n_valid: int = 100, **kw) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    tr, tt = reverse_pairs(n_train, seed=1, **kw)
    vr, vt = reverse_pairs(n_valid, seed=2, **kw)
    return {"train_src": write_lines(folder / "train.src", tr), "train_tgt": write_lines(folder / "train.tgt", tt),
            "valid_src": write_lines(folder / "valid.src", vr), "valid_tgt": write_lines(folder / "valid.tgt", vt)}


def tiny_config(tmp_path: Path, data: dict | None = None, **sections):
    """A small, fast config on the reversal task; `sections` update data/model/train/search dicts."""
    raw = {
        "model_dir": str(tmp_path / "model"),
        "data": {**(data or reverse_files(tmp_path / "data")), "spm_type": "char", "vocab_size": 16, "max_len": 40},
        "model": {"cell": "gru", "emb_dim": 16, "hidden": 32, "enc_layers": 1, "dec_layers": 1, "dropout": 0.0,
                  "emb_dropout": 0.0},
        "train": {"batch_tokens": 600, "max_steps": 20, "valid_every": 10, "log_every": 5, "lr": 0.003,
                  "schedule": "constant", "label_smoothing": 0.0},
        "search": {"beam": 3, "alpha": 0.0},
    }
    for key, value in sections.items():
        raw[key].update(value)
    return from_dict(raw)


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    random.seed(0)


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny models gain nothing from threads, and two busy processes on 2 cores thrash with torch's spin-waits."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
