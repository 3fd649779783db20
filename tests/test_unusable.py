"""Unusable input gets one message and exit 3, in seconds; a mistyped command gets "did you mean"
and exit 2; cells are named as Jupyter shows them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import nbformat
from conftest import ROOT, SUBMISSIONS

from grader.cli import ExitCode
from grader.exercise import find_exercise
from grader.notebook import notebook_cells
from grader.submission import load_submission, unusable

NAMES = find_exercise("ex2", start=ROOT).config.function_names()


def plain(*args: str) -> tuple[int, str]:
    """`grade ARGS` in a subprocess, without --json (nothing imports torch then): code, output."""
    proc = subprocess.run(
        [sys.executable, "-m", "grader", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"},
    )
    return proc.returncode, proc.stdout + proc.stderr


def _lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip()]


def test_file_that_does_not_compile_is_one_message_with_its_line(cli):
    started = time.monotonic()
    code, out = plain("ex2", str(SUBMISSIONS / "syntax_error.py"))
    took = time.monotonic() - started
    assert code == ExitCode.BAD_INPUT == 3
    assert "syntax_error.py, line 241: SyntaxError: expected ':'" in out
    assert "241 | def count_parameters(model: nn.Module) -> int" in out  # the line itself
    assert out.count("SyntaxError") == 1 and "Traceback" not in out
    assert len(_lines(out)) <= 8, out
    assert took < 10, f"{took:.1f} s"  # no torch, no child: the file is only read
    # CI and tools still get a result file (--json): every test at zero, for that one reason
    run = cli("ex2", str(SUBMISSIONS / "syntax_error.py"))
    assert run.code == 3 and run.out.count("SyntaxError") == 1
    assert run.result is not None and run.result["score"] == 0


def test_empty_file_is_one_message(tmp_path):
    empty = tmp_path / "ex2.py"
    empty.write_text("\n\n")
    code, out = plain("ex2", str(empty))
    assert code == 3
    assert "ex2.py is empty" in out and len(_lines(out)) <= 4, out


def test_notebook_that_is_not_json_is_one_message():
    code, out = plain("ex2", str(ROOT / "tests/notebooks/truncated.ipynb"))
    assert code == 3
    assert "is not a readable notebook: invalid JSON at line" in out
    assert len(_lines(out)) <= 4, out


def test_file_of_another_exercise_is_one_message(tmp_path):
    other = tmp_path / "ex2.py"
    other.write_text("import torch\n\n\ndef attention(q, k, v):\n    return q @ k.T @ v\n")
    code, out = plain("ex2", str(other))
    assert code == 3
    assert "defines none of this exercise's names" in out and "Traceback" not in out
    assert len(_lines(out)) <= 4, out


def test_a_file_defining_one_name_is_graded():
    sub = load_submission(SUBMISSIONS / "missing_half.py", module="ex2")
    assert unusable(sub, NAMES) is None
    assert unusable(load_submission(ROOT / "exercises/ex2/ex2.py", module="ex2"), NAMES) is None


def test_mistyped_exercise_and_verb_get_did_you_mean():
    code, out = plain("ex3")
    assert code == ExitCode.USAGE == 2
    assert "did you mean `grade ex2`?" in out
    verb_code, verb_out = plain("bach", "ex2", "downloads/")
    assert verb_code == 2
    assert "did you mean `grade batch`?" in verb_out
    assert "Traceback" not in out + verb_out


def test_exit_codes_read_the_same_in_help_readme_and_code():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = re.search(r"Exit codes: (.*?)\.\n", readme, re.S)
    assert sentence, "README states the exit codes"
    documented = " ".join(sentence.group(1).replace("`", "").split())
    help_text = " ".join(plain("--help")[1].split())
    assert documented in help_text, (documented, help_text)
    codes = dict(re.findall(r"(\d) ([^,]+)", documented))
    assert {int(c) for c in codes} == {e.value for e in ExitCode}
    assert "bad command line" in codes[str(ExitCode.USAGE.value)]
    assert "unusable" in codes[str(ExitCode.BAD_INPUT.value)]


def _notebook(cells: list[tuple[str, int | None]]) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Exercise 2"))
    for source, count in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.execution_count = count
        nb.cells.append(cell)
    return nbformat.writes(nb).encode()


def test_cells_are_named_as_jupyter_shows_them():
    data = _notebook(
        [
            ("import torch", 3),
            ("def relu(x):\n    return x.clamp(min=0)", None),
            ("x = 1", 7),
            ("y = 2", 7),  # a kernel restarted: two cells show In [7]
        ]
    )
    labels = [c.label for c in notebook_cells("ex2.ipynb", data)]
    assert labels == ["In [3]", "cell 2 (`def relu(x):`)", "cell 3 (`x = 1`)", "cell 4 (`y = 2`)"]


def test_a_notebook_whose_only_cell_does_not_compile_names_that_cell(tmp_path):
    path = tmp_path / "ex2.ipynb"
    path.write_bytes(_notebook([("import torch", 1), ("def relu(x)\n    return x", None)]))
    message = unusable(load_submission(path, module="ex2"), NAMES)
    assert message is not None
    assert "cell 2 (`def relu(x)`), line 1: SyntaxError" in message
    assert json.loads(path.read_text())["cells"][2]["execution_count"] is None
