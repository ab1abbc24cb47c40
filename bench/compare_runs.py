"""Compare two training snapshots (bench/snapshot_train.sh): each run's log.jsonl without timings, all of last.pt
(every tensor: model, optimizer, RNG states; schedule, counters, the saved config) but its wall-clock time, and
the sentencepiece model. Prints one line per run and exits 1 if any differs: a refactor that changes nothing
trains bitwise identically.
    usage: python bench/compare_runs.py OLD NEW"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

TIMING = {"tok_per_s", "tokens_per_s", "elapsed", "wall", "seconds", "time", "sent_per_s", "minutes"}


def rows(path: Path) -> list[dict]:
    """log.jsonl without its timings (which differ between any two runs)."""
    out = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out.append({k: v for k, v in row.items() if k not in TIMING and not k.endswith("_per_s")
                    and not k.endswith("_s") and "time" not in k})
    return out


def same(a, b, where: str) -> list[str]:
    """Where two nested structures of tensors, numbers and strings differ."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        ok = isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype \
            and a.shape == b.shape and torch.equal(a, b)
        return [] if ok else [where]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in same(a[k], b[k], f"{where}.{k}")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: lengths {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def state(path: Path) -> dict:
    """last.pt without its wall-clock time (elapsed)."""
    s = torch.load(path, weights_only=True)
    s.pop("elapsed", None)
    return s


def common_config(a: dict, b: dict) -> tuple[dict, dict, list[str]]:
    """Both runs' configs restricted to the keys the old one has, without model_dir (each run's own folder); the
    keys only the new one has."""
    a, b = {k: v for k, v in a.items() if k != "model_dir"}, {k: v for k, v in b.items() if k != "model_dir"}
    added = [f"{sec}.{k}" for sec, part in b.items() if isinstance(part, dict) for k in part
             if k not in (a.get(sec) or {})]
    cut = {sec: ({k: v for k, v in part.items() if k in (a.get(sec) or {})} if isinstance(part, dict) else part)
           for sec, part in b.items()}
    return a, cut, added


def main(old: str, new: str) -> int:
    bad = 0
    for run in sorted(p.name for p in Path(old).iterdir() if p.is_dir()):
        a, b = Path(old) / run, Path(new) / run
        diffs = same(rows(a / "log.jsonl"), rows(b / "log.jsonl"), "log.jsonl")
        sa, sb = state(a / "last.pt"), state(b / "last.pt")
        sa["config"], sb["config"], added = common_config(sa["config"], sb["config"])
        diffs += same(sa, sb, "last.pt")
        for spm in sorted(p.name for p in a.glob("spm*.model")):
            if (a / spm).read_bytes() != (b / spm).read_bytes():
                diffs.append(spm)
        steps = len(rows(a / "log.jsonl"))
        print(f"{run}: {'identical' if not diffs else 'DIFFERENT: ' + '; '.join(diffs[:5])} "
              f"({steps} log rows, {len(sa['model'])} weight tensors"
              f"{'; config keys added with their defaults: ' + ', '.join(added) if added else ''})")
        bad += bool(diffs)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
