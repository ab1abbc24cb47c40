"""Safe loading: model files, shortlists and feature caches are read as tensors and plain data only, so a file
from someone else that carries pickled code is refused with one line, and its code never runs."""

import shutil

import pytest
import torch
from torch.serialization import get_unsafe_globals_in_checkpoint

from conftest import shapes_dataset, tiny_config
from seq2seq import files as fileio
from seq2seq.data import features
from seq2seq.errors import UserError
from seq2seq.cli import main
from seq2seq.hub import checkpoints_dir
from seq2seq.decode.shortlist import Shortlist
from seq2seq.train.trainer import Trainer

SHIPPED = checkpoints_dir() / "multi30k-en-de"


class Payload:
    """Unpickling this runs `exec`, which creates the marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def write_payload(path, marker, like=None):
    """A torch file that looks like `like` (a dict of tensors) with the payload hidden in one more entry."""
    torch.save({**(like or {"w": torch.zeros(2)}), "extra": Payload(marker)}, path)


def test_the_payload_really_runs_code_when_loaded_unsafely(tmp_path):
    """The check on the tests below: with weights_only=False (the old loading) the marker appears."""
    marker = tmp_path / "marker"
    write_payload(tmp_path / "model.pt", marker)
    torch.load(tmp_path / "model.pt", weights_only=False)
    assert marker.exists()


def test_checkpoint_load_refuses_pickled_code(tmp_path):
    marker = tmp_path / "marker"
    write_payload(tmp_path / "model.pt", marker)
    with pytest.raises(UserError, match=r"refused to load .*model\.pt: it holds pickled Python objects \(exec\)") as e:
        fileio.load(tmp_path / "model.pt")
    assert "\n" not in str(e.value)
    assert not marker.exists()


def test_unreadable_files_are_one_line_errors(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "half.pt").write_bytes((SHIPPED / "model.pt").read_bytes()[:5000])
    (tmp_path / "text.pt").write_bytes(b"not a torch file")
    for name in ("empty.pt", "half.pt", "text.pt"):
        with pytest.raises(UserError, match=f"{name}: not a readable checkpoint"):
            fileio.load(tmp_path / name)
    with pytest.raises(UserError, match="checkpoint not found"):
        fileio.load(tmp_path / "none.pt")


def test_cli_translate_refuses_a_model_dir_carrying_code(tmp_path, capsys):
    model = tmp_path / "model"
    model.mkdir()
    for f in ("config.yaml", "spm.model"):
        shutil.copyfile(SHIPPED / f, model / f)
    marker = tmp_path / "marker"
    write_payload(model / "model.pt", marker, like=torch.load(SHIPPED / "model.pt", weights_only=True))
    assert main(["translate", "--model", str(model), "A dog runs."]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: refused to load {model / 'model.pt'}: ")
    assert captured.err.count("\n") == 1
    assert not marker.exists()


def test_cli_translate_refuses_a_shortlist_carrying_code(tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(SHIPPED, model)
    marker = tmp_path / "marker"
    write_payload(model / "shortlist.pt", marker, like=torch.load(SHIPPED / "shortlist.pt", weights_only=True))
    with pytest.raises(UserError, match="refused to load .*shortlist.pt: .*a shortlist may hold only tensors"):
        Shortlist.load(model)
    assert main(["translate", "--model", str(model), "A dog runs."]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: refused to load {model / 'shortlist.pt'}: ") and err.count("\n") == 1
    assert not marker.exists()


class StubEncoder:
    """The two methods features.compute calls: a 'grid' of the image's first pixels as features."""

    def eval(self):
        return self

    def grid(self, images):  # (b, 3, H, W) -> (b, 4, 3)
        return images.flatten(2).transpose(1, 2)[:, :4]


def test_a_feature_cache_carrying_code_is_refused_and_recomputed(tmp_path):
    shapes_dataset(tmp_path / "data", n_train=3, n_valid=1)
    paths = sorted((tmp_path / "data").glob("train-*.png"))
    args = (StubEncoder(), paths, 32, tmp_path / "cache", "stub|1", torch.device("cpu"))
    logged = []
    feats, hit = features.cached(*args, log=logged.append)
    assert not hit and feats.shape == (3, 4, 3)
    (cache,) = (tmp_path / "cache").glob("*.pt")
    marker = tmp_path / "marker"
    write_payload(cache, marker)
    again, hit = features.cached(*args, log=logged.append)
    assert not hit and torch.equal(again, feats)
    assert any(m.startswith(f"refused to load {cache}") for m in logged)
    assert not marker.exists()
    assert features.cached(*args, log=logged.append)[1]  # the recomputed cache is plain tensors again


def test_everything_training_writes_loads_with_weights_only(tmp_path):
    """last.pt (optimizer, schedule, python/torch RNG states, config), best.pt, step-N.pt and the shortlist hold
    nothing that weights_only=True refuses; test_trainer's resume tests load last.pt this way."""
    Trainer(tiny_config(tmp_path, train={"max_steps": 6, "valid_every": 3}), progress=False,
            log_stream=open(tmp_path / "log.txt", "w")).train()
    files = sorted((tmp_path / "model").glob("*.pt"))
    assert {"last.pt", "best.pt", "shortlist.pt"} <= {f.name for f in files}
    for f in files:
        assert get_unsafe_globals_in_checkpoint(f) == [], f.name
    state = fileio.load(tmp_path / "model" / "last.pt")
    assert {"optimizer", "rng", "config", "schedule"} <= set(state)
    assert isinstance(state["rng"]["python"], tuple)  # random.getstate()
