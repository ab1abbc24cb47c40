"""The package's layers are a checked contract: import-linter's `lint-imports` (contracts in pyproject.toml) passes
on the source tree and fails on a copy with an upward import or a circle; no module imports the package root
or another module's private names."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")
needs_linter = pytest.mark.skipif(not LINT.is_file(), reason="import-linter is not installed (the test extra)")


def lint(root: Path) -> subprocess.CompletedProcess:
    """lint-imports over the seq2seq package found in `root`, with the contracts of `root`/pyproject.toml."""
    return subprocess.run([str(LINT), "--no-cache", str(root / "pyproject.toml")], cwd=root, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)}, timeout=120)


def copy_of_package(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "seq2seq", tmp_path / "seq2seq", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@needs_linter
def test_the_source_tree_keeps_its_contracts():
    out = lint(REPO)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "2 kept, 0 broken" in out.stdout


@needs_linter
@pytest.mark.parametrize("module, line, says", [
    ("data/corpus.py", "from seq2seq.translate import Translator  # noqa: E402  (data importing the API: upward)",
     "seq2seq.data is not allowed to import seq2seq.translate"),
    ("data/batching.py", "from seq2seq.data.store import PairStore  # noqa: E402  (store imports batching: a circle)",
     "No cycles are allowed in seq2seq.data"),
])
def test_an_upward_import_or_a_circle_breaks_a_contract(tmp_path, module, line, says):
    root = copy_of_package(tmp_path)
    with open(root / "seq2seq" / module, "a") as f:
        f.write(f"\n{line}\n")
    out = lint(root)
    assert out.returncode == 1 and says in out.stdout


def package_imports():
    """(module file, imported module, imported names) for every `from ... import` of the package's modules."""
    for f in sorted((REPO / "seq2seq").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "seq2seq":
                yield f.relative_to(REPO), node.module, [a.name for a in node.names]


def test_no_module_imports_the_root_or_private_names():
    """The root's lazy public face is for users; inside, each name comes from the module that defines it."""
    root = [(f, names) for f, module, names in package_imports() if module == "seq2seq"]
    private = [(f, module, n) for f, module, names in package_imports() for n in names
               if n.startswith("_") and not n.startswith("__")]
    assert [r for r in root if r[0] != Path("seq2seq/__init__.py")] == []
    assert private == []
