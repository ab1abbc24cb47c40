"""Data-parallel training started as a user starts it, `torchrun --nproc_per_node 2 -m seq2seq train ...` (gloo,
CPU, a free port): the same weights as one process on the same global batch, every example once per epoch, resume
after kill -9 and under another number of processes, captioning; and the corpus store's batches."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import caption_config, reverse_files, shapes_dataset, tiny_config, write_lines
from seq2seq import files as fileio
from seq2seq.data.tokenizer import EOS, Tokenizer

ROOT = Path(__file__).resolve().parents[2]  # the repository
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")


def _launcher(nproc: int | None) -> list[str]:
    """`python` for one plain process, else `torchrun --nproc_per_node N` on a free local port."""
    if nproc is None:
        return [sys.executable]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    torchrun = Path(sys.executable).with_name("torchrun")
    exe = [str(torchrun)] if torchrun.is_file() else [sys.executable, "-m", "torch.distributed.run"]
    return [*exe, "--nproc_per_node", str(nproc), "--master_addr", "127.0.0.1", "--master_port", str(port)]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV}
    return {**env, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def train(config: Path, nproc: int | None, *args: str, module: str = "-m seq2seq") -> subprocess.CompletedProcess:
    cmd = [*_launcher(nproc), *module.split(), "train", str(config), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_env(), cwd=config.parent)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res


def write_config(cfg, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    return path


def weights(model_dir: Path) -> dict:
    return fileio.load(model_dir / "last.pt")["model"]


def assert_close(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6), (k, (a[k] - b[k]).abs().max())


TRAIN = {"max_steps": 12, "valid_every": 6, "batch_tokens": 300, "threads": 1, "log_every": 1}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """One process accumulating 2 batches per update for 12 updates: the reference for two processes."""
    tmp = tmp_path_factory.mktemp("dp")
    data = reverse_files(tmp / "data", n_train=400, n_valid=20)
    cache = str(tmp / "cache")

    def config(name: str, **train_settings):
        cfg = tiny_config(tmp / name, data={**data, "cache_dir": cache}, train={**TRAIN, **train_settings})
        return write_config(cfg, tmp / name)

    ref = config("one", accum_steps=2)
    train(ref, None)
    return config, ref.parent / "model"


def _losses(model_dir: Path) -> list[float]:
    import json

    return [r["loss"] for r in map(json.loads, open(model_dir / "log.jsonl")) if r["type"] == "train"]


def test_two_processes_equal_one_with_the_same_global_batch(one_process):
    """2 processes x 1 batch == 1 process x 2 accumulated batches: the same weights and the same loss curve."""
    config, ref = one_process
    out = train(config("two"), 2)
    two = ref.parents[1] / "two" / "model"
    assert_close(weights(two), weights(ref))
    assert _losses(two) == pytest.approx(_losses(ref), rel=1e-4) and len(_losses(two)) == 12
    assert out.stdout.count('"step": 12') == 1  # rank 0 alone prints the summary
    assert not (two.parent / "model" / "train.lock").exists()


def test_resume_under_another_number_of_processes(one_process):
    """last.pt holds the position in the epoch, not per-rank state: 2 processes to step 6, then one process
    (accumulating 2 batches) to step 12 gives the weights of the uninterrupted run."""
    config, ref = one_process
    path = config("switch", max_steps=6)
    train(path, 2)
    assert fileio.load(path.parent / "model" / "last.pt")["world"] == 2
    out = train(path, None, "--resume", "--set", "train.max_steps=12", "train.accum_steps=2")
    assert "resumed from" in out.stderr and "at step 6" in out.stderr
    assert_close(weights(path.parent / "model"), weights(ref))


def test_kill_9_then_resume_continues_from_last_pt(tmp_path):
    """A 2-process run killed with SIGKILL (both workers and torchrun, as a crashed machine) resumes from the
    last.pt it had written, under torchrun again, and finishes."""
    cfg = tiny_config(tmp_path, data=reverse_files(tmp_path / "data", n_train=400, n_valid=20),
                      train={**TRAIN, "max_steps": 100_000, "valid_every": 3})
    path = write_config(cfg, tmp_path)
    last = tmp_path / "model" / "last.pt"
    proc = subprocess.Popen([*_launcher(2), "-m", "seq2seq", "train", str(path)], env=_env(), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        while not (last.is_file() and fileio.load(last)["step"] >= 6) and time.time() < deadline:
            assert proc.poll() is None, "the run ended before it was killed"
            time.sleep(0.5)
    finally:
        for pid in [*_descendants(proc.pid), proc.pid]:  # the workers first: each runs in a session of its own
            os.kill(pid, signal.SIGKILL)
        proc.wait()
    saved = fileio.load(last)["step"]
    assert saved >= 6 and saved % 3 == 0
    out = train(path, 2, "--resume", "--set", f"train.max_steps={saved + 4}")
    assert f"resumed from {last} at step {saved}" in out.stderr
    assert fileio.load(last)["step"] == saved + 4


def _descendants(pid: int) -> list[int]:
    """The processes below `pid` (Linux /proc), deepest first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children.setdefault(int(stat.read_text().rsplit(")", 1)[1].split()[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):  # a process that ended meanwhile
            continue

    def below(p: int) -> list[int]:
        return [d for c in children.get(p, []) for d in (*below(c), c)]

    return below(pid)


RECORD = """
import os, sys
from seq2seq.cli import main
from seq2seq.train.trainer import Trainer

real = Trainer.train_step

def train_step(self, batches, n_tokens=None, fill=0):
    for k, b in enumerate(batches):  # a zero-weight filler batch is no example
        name = f"rank{self.dist.rank}.{'fill' if k >= len(batches) - fill else 'txt'}"
        with open(os.path.join(os.environ["SEEN"], name), "a") as f:
            f.writelines(" ".join(str(i) for i in row if i > 3) + "\\n" for row in b.src.tolist())
    return real(self, batches, n_tokens, fill)

Trainer.train_step = train_step
sys.exit(main(sys.argv[1:]))
"""


def test_every_example_once_per_epoch_across_ranks(tmp_path):
    """One epoch of 2 processes x 2 accumulated batches: the ranks' examples together are the training set, each
    exactly once. These 333 pairs make 13 batches: the last step has one, and rank 1 joins it with zero weight."""
    numbers = torch.randperm(90_000, generator=torch.Generator().manual_seed(0))[:333] + 10_000
    src = [" ".join(str(int(x))) for x in numbers]  # distinct sources, so each example is recognisable
    data = {"train_src": write_lines(tmp_path / "train.src", src),
            "train_tgt": write_lines(tmp_path / "train.tgt", [s[::-1] for s in src]),
            "valid_src": write_lines(tmp_path / "valid.src", src[:10]),
            "valid_tgt": write_lines(tmp_path / "valid.tgt", [s[::-1] for s in src[:10]])}
    cfg = tiny_config(tmp_path, data=data, train={**TRAIN, "max_steps": 10_000, "max_epochs": 1, "accum_steps": 2,
                                                  "valid_every": 10_000})
    path = write_config(cfg, tmp_path)
    (tmp_path / "record.py").write_text(RECORD)
    seen = tmp_path / "seen"
    seen.mkdir()
    os.environ["SEEN"] = str(seen)
    try:
        train(path, 2, module="record.py")
    finally:
        del os.environ["SEEN"]
    ranks = [(seen / f"rank{r}.txt").read_text().splitlines() for r in (0, 1)]
    assert all(ranks) and not (seen / "rank0.fill").exists()
    assert (seen / "rank1.fill").read_text()  # the last step's zero-weight batch
    tok = Tokenizer(tmp_path / "model" / "spm.model")
    expected = [" ".join(str(i) for i in ids if i > EOS) for ids in tok.encode(src)]
    assert sorted(ranks[0] + ranks[1]) == sorted(expected)  # each training example once, none twice


def test_captioning_under_torchrun(tmp_path):
    """The captioning task trains with 2 processes too: rank 0 caches the image features, the other loads them."""
    files = shapes_dataset(tmp_path / "data", n_train=40, n_valid=8)
    cfg = caption_config(tmp_path, files, max_steps=4, valid_every=2, threads=1)
    out = train(write_config(cfg, tmp_path), 2)
    assert out.stderr.count("computing image features") == 2  # train and valid images, once each (rank 0)
    assert (tmp_path / "model" / "best.pt").is_file() and fileio.load(tmp_path / "model" / "last.pt")["step"] == 4
