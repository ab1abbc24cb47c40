"""Bad input found by the reliability sweep: each is one clear `error:` line and exit code 2, never a traceback,
and the message names the real problem."""

from __future__ import annotations

import pytest

from conftest import REPO, reverse_files, tiny_config
from seq2seq.cli import main


def one_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("value, says", [
    ("train.lr=[unclosed", "--set train.lr=[unclosed: the value is not valid YAML"),
    ("train.lr=!!python/object/apply:os.system [\"echo hi\"]", "could not determine a constructor"),
])
def test_set_values_that_are_not_yaml(tmp_path, capsys, value, says):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model_dir: x\n")
    assert says in one_error(capsys, ["train", str(cfg), "--set", value])


def test_export_set_value_that_is_not_yaml(tmp_path, capsys):
    assert "--set search.beam=[x: the value is not valid YAML" in one_error(
        capsys, ["export", "--model", str(REPO / "checkpoints" / "multi30k-de-en"), "--out", str(tmp_path / "e"), "--set", "search.beam=[x"])
    assert not (tmp_path / "e").exists()


def test_an_empty_model_name_is_refused(capsys):
    assert "--model is empty" in one_error(capsys, ["translate", "--model", "", "Ein Hund."])


def test_a_folder_where_a_file_belongs(tmp_path, capsys):
    assert f"{tmp_path} is a folder; give a file" in one_error(
        capsys, ["evaluate", "--model", "multi30k-de-en", "--src", str(tmp_path), "--ref", str(tmp_path)])


def test_a_missing_training_file_is_not_a_write_error(tmp_path, capsys):
    files = reverse_files(tmp_path, n_train=50, n_valid=10)
    cfg = tiny_config(tmp_path, {**files, "train_src": str(tmp_path / "nonexistent.src")})
    cfg_file = tmp_path / "c.yaml"
    import yaml

    cfg_file.write_text(yaml.safe_dump(cfg.to_dict()))
    err = one_error(capsys, ["train", str(cfg_file)])
    assert f"file not found: {tmp_path / 'nonexistent.src'}" in err and "cannot write" not in err


def test_a_recipe_names_the_command_that_makes_its_data(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/data/ does not exist here
    err = one_error(capsys, ["train", str(REPO / "configs" / "example-reverse.yaml")])
    assert "file not found: runs/data/reverse." in err and "`python data/make_reverse.py runs/data`" in err


@pytest.mark.parametrize("argv, says", [
    (["translate", "--beam", "1000000000", "Ein Hund."], "search.beam must be between 1 (greedy) and 100"),
    (["translate", "--batch-size", "99999999", "A dog."], "search.batch_size <= 10000"),
    (["lm", "generate", "--model", "lm-de", "--num", "1000000000"], "need 1 <= num <= 10000"),
    (["lm", "generate", "--model", "lm-de", "--beam", "100000", "--num", "2"], "<= 100"),
])
def test_search_sizes_that_would_exhaust_memory_are_refused_at_once(capsys, argv, says):
    """A beam or a sample count no memory holds is one line before anything is allocated, not a traceback."""
    assert says in one_error(capsys, argv)


def test_the_api_has_the_same_bounds():
    from seq2seq.config import SearchConfig
    from seq2seq.errors import UserError

    with pytest.raises(UserError, match="between 1 \\(greedy\\) and 100, got 101"):
        SearchConfig().updated(beam=101)
    assert SearchConfig().updated(beam=100).beam == 100


@pytest.mark.parametrize("shell", [
    'seq2seq translate --model multi30k-de-en "Ein Hund." > /dev/full',
    "seq2seq models > /dev/full",
    "seq2seq translate --model multi30k-de-en <&-",
    'seq2seq translate --model multi30k-de-en "Ein Hund." >&-',
])
def test_closed_or_full_output_is_one_error_line(shell):
    """A full disk or a closed stream is one `error:` line and a non-zero exit, never a traceback."""
    import os
    import subprocess
    import sys

    bin_dir = os.path.dirname(sys.executable)
    out = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert out.returncode in (1, 2) and out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr
