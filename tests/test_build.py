"""Stubs and public golden values are generated from the reference and must not drift."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT

from grader._exceptions import ConfigError
from grader.stubs import strip_solution


def test_checked_in_stubs_and_goldens_match_the_reference():
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "build", "ex2", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "up to date" in proc.stdout


def test_every_stub_function_raises_with_its_task(ex2):
    stub = (ROOT / "exercises/ex2/ex2.py").read_text()
    tree = ast.parse(stub)
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    assert names == ex2.config.function_names()
    assert "BEGIN SOLUTION" not in stub
    assert 'raise NotImplementedError("softmax: ' in stub


def test_stub_notebook_holds_the_same_code():
    nb = nbformat.read(ROOT / "exercises/ex2/ex2.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'raise NotImplementedError("relu: ' in code
    assert [c.id for c in nb.cells] == [f"ex2-{i:02d}" for i in range(len(nb.cells))]


def test_public_goldens_hold_no_hidden_test():
    data = json.loads((ROOT / "exercises/ex2/golden.json").read_text())
    assert data["group"] == "public"
    assert all(key.startswith("public/") for key in data["tests"])


def test_unbalanced_markers_are_a_config_error():
    with pytest.raises(ConfigError, match="s.py:2: BEGIN SOLUTION never ended"):
        strip_solution("def f():\n    # BEGIN SOLUTION\n    return 1\n", filename="s.py")
    with pytest.raises(ConfigError, match="END SOLUTION without BEGIN"):
        strip_solution("def f():\n    return 1\n    # END SOLUTION\n", filename="s.py")


def test_stub_keeps_docstring_and_states_task():
    src = 'def relu(x):\n    """Return max(x, 0)."""\n    # BEGIN SOLUTION\n    return x.clamp(min=0)\n    # END SOLUTION\n'
    assert (
        strip_solution(src)
        == 'def relu(x):\n    """Return max(x, 0)."""\n    raise NotImplementedError("relu: Return max(x, 0).")\n'
    )
