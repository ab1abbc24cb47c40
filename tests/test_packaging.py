"""Packaging: what `pip install .` gives a user (the wheel, built offline, run from a fresh venv) and the extras."""

import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from seq2seq.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXTRA_MODULES = ("fastapi", "uvicorn", "multipart", "matplotlib")
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".hypothesis", ".pytest_cache", ".cache", "runs", "reports",
                                    "build", "dist", "*.egg-info", "__pycache__")


def source_packages() -> set[str]:
    """Every package of the source tree that belongs in the wheel (tests excluded)."""
    return {".".join(p.parent.relative_to(ROOT).parts) for top in ("seq2seq",)
            for p in (ROOT / top).rglob("__init__.py") if "tests" not in p.parts}


def test_pyproject_lists_every_package_and_the_models():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(tool["packages"]) == source_packages() | {"seq2seq.checkpoints"}
    assert tool["package-dir"] == {"seq2seq.checkpoints": "checkpoints"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


@pytest.mark.parametrize("argv, extra, module", [
    (["serve"], "serve", "fastapi"),
    (["report", "--out", "x.html"], "report", "matplotlib"),
    (["diagnose", "--out", "x.html"], "report", "matplotlib"),
])
def test_a_missing_extra_is_one_error_line_naming_the_pip_command(argv, extra, module, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: importing it fails, find_spec is None
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert module in err and f"pip install 'seq2seq[{extra}]'" in err


def run(*argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, **kw)


@pytest.mark.slow
def test_the_wheel_installs_the_models_and_translates_in_a_fresh_venv(tmp_path):
    # Build offline from a copy of the tree, so that the build leaves nothing in the repository.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE)
    built = run(sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-cache-dir",
                "--no-index", "-q", "-w", tmp_path / "dist", src)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("seq2seq-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [n for n in names if "tests/" in n or "conftest" in n]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "seq2seq/py.typed" in names
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "checkpoints").glob("*/*") if p.is_file()}
    assert shipped and {f"seq2seq/{f}" for f in shipped} <= names
    modules = {p.relative_to(ROOT).as_posix() for pkg in source_packages()
               for p in (ROOT / pkg.replace(".", "/")).glob("*.py")}
    assert modules <= names

    # A fresh venv: the wheel alone (--no-deps), its dependencies seen through a .pth file pointing at this
    # interpreter's site-packages (no second torch), and the extras hidden, as in a core-only install.
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py, cli = env_dir / "bin" / "python", env_dir / "bin" / "seq2seq"
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    deps = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    (site / "_project_deps.pth").write_text("".join(p + "\n" for p in deps))
    (site / "_no_extras.pth").write_text(f"import sys; sys.modules.update(dict.fromkeys({EXTRA_MODULES!r}))\n")
    installed = run(sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel)
    assert installed.returncode == 0, installed.stderr

    # Run from a folder outside the repository, with nothing pointing at the source tree or at other models.
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SEQ2SEQ_MODELS", "SEQ2SEQ_CHECKPOINTS")}
    where = run(py, "-c", "import seq2seq; print(seq2seq.__file__)", cwd=work, env=env)
    assert where.stdout.startswith(str(env_dir)), where
    models = run(cli, "models", cwd=work, env=env)
    assert models.returncode == 0, models.stderr
    assert {ln.split()[0] for ln in models.stdout.splitlines()} == {Path(f).parent.name for f in shipped}
    out = run(cli, "translate", "A dog runs.", cwd=work, env=env)
    assert out.returncode == 0, out.stderr
    assert "Hund" in out.stdout and len(out.stdout.splitlines()) == 1
    serve = run(cli, "serve", cwd=work, env=env)
    assert serve.returncode == 2 and serve.stderr.count("\n") == 1
    assert "pip install 'seq2seq[serve]'" in serve.stderr
