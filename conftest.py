"""Shared helpers: tiny generated data and tiny configs, so every test runs in seconds on a CPU."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from seq2seq.config import from_dict
from seq2seq.data.tokenizer import BOS, EOS
from seq2seq.model import EncoderOutput
from seq2seq.train.trainer import Trainer

REPO = Path(__file__).resolve().parent  # the repository root (this file sits there)
SHARED_DATA = REPO.parent / "shared" / "data"


def load_script(relative: str, name: str):
    """A script of the repository that is not a package module (bench/, data/, scripts/), imported as `name` and
    registered in sys.modules (dataclasses look their module up there)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / relative)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


def data_files(model_dir: Path) -> dict:
    """A trained model's text files (train/valid, src/tgt), from its config.yaml: another model on the same data."""
    import yaml

    d = yaml.safe_load((Path(model_dir) / "config.yaml").read_text())["data"]
    return {k: d[k] for k in ("train_src", "train_tgt", "valid_src", "valid_tgt")}


def with_members(model_dir: Path, where: Path, members: list) -> Path:
    """A copy of a model folder, in `where`, whose config.yaml names `members` in search.ensemble."""
    import shutil

    import yaml

    copy = Path(where) / Path(model_dir).name
    shutil.copytree(model_dir, copy)
    raw = yaml.safe_load((copy / "config.yaml").read_text())
    raw["search"]["ensemble"] = [str(m) for m in members]
    (copy / "config.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return copy


def tiny_config(tmp_path: Path, data: dict | None = None, **sections):
    """A small, fast config on the reversal task; `sections` update data/model/train/search dicts."""
    raw = {
        "model_dir": str(tmp_path / "model"),
        "data": {"cache_dir": str(tmp_path / "cache"), **(data or reverse_files(tmp_path / "data")), "spm_type": "char",
                 "vocab_size": 16, "max_len": 40},
        "model": {"cell": "gru", "emb_dim": 16, "hidden": 32, "enc_layers": 1, "dec_layers": 1, "dropout": 0.0,
                  "emb_dropout": 0.0},
        "train": {"batch_tokens": 600, "max_steps": 20, "valid_every": 10, "log_every": 5, "lr": 0.003,
                  "schedule": "constant", "label_smoothing": 0.0},
        "search": {"beam": 3, "alpha": 0.0},
    }
    for key, value in sections.items():
        raw[key].update(value)
    return from_dict(raw)


COLOURS = {"red": (220, 30, 30), "green": (30, 170, 40), "blue": (40, 60, 220)}
SHAPES = ("square", "circle")


def draw(colour: str, shape: str, rng: random.Random, size: int = 32) -> Image.Image:
    im = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(im)
    r = rng.randint(7, 10)
    cx, cy = rng.randint(r + 1, size - r - 2), rng.randint(r + 1, size - r - 2)
    box = (cx - r, cy - r, cx + r, cy + r)
    (d.rectangle if shape == "square" else d.ellipse)(box, fill=COLOURS[colour])
    return im


def shapes_dataset(folder, n_train=400, n_valid=24, seed=0):
    """TSV files of image<TAB>caption; two phrasings per image."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n in (("train", n_train), ("valid", n_valid)):
        rows = []
        for i in range(n):
            colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
            name = f"{split}-{i}.png"
            draw(colour, shape, rng).save(folder / name)
            rows += [f"{name}\ta {colour} {shape} on a white background", f"{name}\tthere is a {colour} {shape}"]
        files[split] = write_lines(folder / f"{split}.tsv", rows)
    return files


def caption_config(tmp_path, files, **train):
    return from_dict({
        "model_dir": str(tmp_path / "model"),
        "data": {"train": files["train"], "valid": files["valid"], "images_dir": str(tmp_path / "data"),
                 "image_size": 32, "spm_type": "word", "vocab_size": 16, "feature_cache": str(tmp_path / "cache")},
        "model": {"encoder": "image", "backbone": "small", "pretrained": False, "cell": "gru", "emb_dim": 16,
                  "hidden": 48, "dec_layers": 1, "dropout": 0.0, "emb_dropout": 0.0, "attention": "bahdanau"},
        "train": {"batch_tokens": 400, "max_steps": 300, "valid_every": 150, "lr": 0.01, "schedule": "constant",
                  "label_smoothing": 0.0, "attn_reg": 0.1, "log_every": 50, **train},
        "search": {"beam": 3, "alpha": 0.0, "max_len_ratio": 0.0, "max_len_offset": 12},
    })


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


def resumed_and_uninterrupted(full_cfg, cut_cfg, cut: int) -> tuple[dict, dict]:
    """Exact-resume tests: train `full_cfg` straight through, and `cut_cfg` (the same run in another folder) to
    step `cut`, then on to its own max_steps with resume; the two models' weights (copies), in that order."""
    from seq2seq.train.trainer import Trainer

    full = Trainer(full_cfg, progress=False)
    full.train()
    total, cut_cfg.train.max_steps = cut_cfg.train.max_steps, cut
    Trainer(cut_cfg, progress=False).train()
    cut_cfg.train.max_steps = total
    resumed = Trainer(cut_cfg, resume=True, progress=False)
    assert resumed.step == cut
    resumed.train()
    return ({k: v.clone() for k, v in full.model.state_dict().items()},
            {k: v.clone() for k, v in resumed.model.state_dict().items()})


TONES = {"A": 440.0, "B": 1320.0, "C": 3000.0}  # Hz: one tone per symbol of the synthetic speech task


def tone_wav(path: Path, symbols: str, rng: random.Random, rate: int = 16_000) -> Path:
    """A 16-bit mono wav: each symbol of `symbols` a tone burst of its own pitch (0.12-0.2 s), with gaps of quiet
    noise between: a speech-like task whose transcript is the symbol sequence."""
    import wave

    import numpy as np

    parts = []
    for s in symbols:
        gap = rng.uniform(0.04, 0.1)
        parts.append(np.random.default_rng(rng.randrange(1 << 30)).normal(0, 0.003, int(gap * rate)))
        n = int(rng.uniform(0.12, 0.2) * rate)
        t = np.arange(n) / rate
        parts.append(0.4 * np.sin(2 * np.pi * TONES[s] * t) * np.hanning(n))
    parts.append(np.zeros(int(0.05 * rate)))
    pcm = (np.clip(np.concatenate(parts), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def tone_dataset(folder: Path, n_train: int = 240, n_valid: int = 24, seed: int = 0) -> dict:
    """train.tsv / valid.tsv of `audio<TAB>transcript` lines: wavs of 1-4 tone symbols, transcripts 'A C B'."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, n in (("train", n_train), ("valid", n_valid)):
        lines = []
        for i in range(n):
            symbols = "".join(rng.choice("ABC") for _ in range(rng.randint(1, 4)))
            wav = tone_wav(folder / f"{split}-{i}.wav", symbols, rng)
            lines.append(f"{wav.name}\t{' '.join(symbols)}")
        out[split] = write_lines(folder / f"{split}.tsv", lines)
    return out


# -- language models: a two-sentence language ---------------------------------------------------------------------
# a two-sentence language: the first word is a coin flip, the rest follows from it
LM_SENTENCES = ("a b c d e", "b c d e a b c")


def lm_config(folder, n_train=600, spm_model=None, **sections):
    folder.mkdir(parents=True, exist_ok=True)
    lines = [LM_SENTENCES[i % 2] for i in range(n_train)]
    data = {"train_tgt": write_lines(folder / "train.txt", lines),
            "valid_tgt": write_lines(folder / "valid.txt", list(LM_SENTENCES) * 10),
            "spm_type": "word", "vocab_size": 16, "cache_dir": str(folder / "cache")}
    if spm_model:
        data.update(spm_model=spm_model, spm_type="char")
    raw = {"model_dir": str(folder / "model"), "data": data,
           "model": {"encoder": "none", "attention": "none", "input_feeding": False, "cell": "gru", "emb_dim": 16,
                     "hidden": 32, "dec_layers": 1, "dropout": 0.0, "emb_dropout": 0.0},
           "train": {"batch_tokens": 400, "max_steps": 120, "valid_every": 60, "log_every": 60, "lr": 0.01,
                     "schedule": "constant", "label_smoothing": 0.0}}
    for key, value in sections.items():
        raw[key].update(value)
    return from_dict(raw)


def lm_of(translator, folder, **train):
    """A trained language model of a trained translator's target side, on its sentencepiece model."""
    lm = lm_config(folder, spm_model=f"{translator.model_dir}/spm.model", train=train)
    write_lines(folder / "train.txt", Path(translator.data.train_tgt).read_text().splitlines()[:300])
    write_lines(folder / "valid.txt", Path(translator.data.valid_tgt).read_text().splitlines())
    Trainer(lm, progress=False).train()
    return lm


# -- search: a decoder of scripted next-token probabilities -------------------------------------------------------
A, B_ = 4, 5  # two real tokens for the scripted model


@dataclass
class PrefixState:
    prefixes: list[tuple]

    def select(self, index):
        return PrefixState([self.prefixes[i] for i in index.tolist()])


class ScriptedDecoder:
    """Next-token probabilities are a fixed table of the prefix; unknown prefixes end (EOS) for sure."""

    columns = None  # logits over the whole vocabulary

    def __init__(self, table: dict[tuple, dict[int, float]], vocab: int = 6):
        self.table, self.vocab = table, vocab

    def precompute(self, enc):
        return None

    def init_state(self, enc):
        return PrefixState([() for _ in range(enc.memory.size(0))])

    def step(self, tokens, state, enc, keys, group=1):
        prefixes = [p if t == BOS else p + (t,) for p, t in zip(state.prefixes, tokens.tolist())]
        logits = torch.full((len(prefixes), self.vocab), float("-inf"))
        for i, p in enumerate(prefixes):
            for tok, prob in self.table.get(p, {EOS: 1.0}).items():
                logits[i, tok] = math.log(prob)
        return logits, PrefixState(prefixes), None


def scripted_enc(batch: int) -> EncoderOutput:
    return EncoderOutput(torch.zeros(batch, 1, 1), torch.ones(batch, 1, dtype=torch.bool), torch.zeros(batch, 1))


TRAP = {(): {A: 0.6, B_: 0.4}, (A,): {A: 0.36, B_: 0.34, EOS: 0.3}, (B_,): {EOS: 0.9, A: 0.1},
        (A, A): {EOS: 1.0}, (A, B_): {EOS: 1.0}}
