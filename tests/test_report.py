"""The compact student report: fits a screen, says what to fix first, folds tests per function."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT, SUBMISSIONS
from rich.console import Console

from grader.reports import terminal


def render(result, *, verbose: bool = False) -> list[str]:
    console = Console(file=io.StringIO(), width=80, no_color=True, highlight=False)
    terminal.render(result, console, verbose=verbose)
    return console.file.getvalue().splitlines()


@pytest.mark.slow
def test_untouched_stub_fits_one_screen_at_80_columns():
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "ex2", "exercises/ex2/ex2.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "80", "NO_COLOR": "1"},
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(lines) <= 40, proc.stdout
    text = proc.stdout
    assert "Fix first: tensor_info (ex2.py, line" in text and "not written yet" in text
    assert text.count("Describe a tensor") == 1  # a docstring is never repeated per test
    assert "Public tests:" in text and "Hidden tests:" in text
    assert sum(line.startswith("protections (") for line in lines) == 1


@pytest.mark.slow
def test_verbose_shows_every_test_and_compact_folds_them(grade_file):
    result = grade_file(ROOT / "exercises/ex2/ex2.py")
    verbose = "\n".join(render(result, verbose=True))
    assert all(t.name.removeprefix("test_") in verbose for t in result.tests)
    compact = render(result)
    assert len(compact) <= 40
    assert not any("test_" in line for line in compact)


@pytest.mark.slow
def test_half_done_exercise_lists_missing_functions_once(grade_file):
    result = grade_file(SUBMISSIONS / "missing_half.py")
    lines = render(result)
    text = "\n".join(lines)
    assert "Fix first: LinearModel: your file does not define it (nor 13 more" in text
    assert "not defined in your file (14, 36 points): LinearModel, MLP" in text
    assert "the same functions as above" in text  # the hidden group does not list them again
    assert len(lines) <= 40


@pytest.mark.slow
def test_failing_function_comes_first_with_its_reason(grade_file):
    result = grade_file(SUBMISSIONS / "bug_mse_loss.py")
    lines = render(result)
    text = "\n".join(lines)
    assert "Fix first: mse_loss" in text
    public = lines.index(next(line for line in lines if line.startswith("Public tests:")))
    hidden = lines.index(next(line for line in lines if line.startswith("Hidden tests:")))
    first_row = lines[public + 1]
    assert "✗" in first_row and "mse_loss" in first_row, lines[public : public + 3]
    assert public < hidden


def test_something_is_on_screen_within_half_a_second():
    """The first line comes before rich, pydantic or torch are imported (best of three: the
    machine may be busy)."""
    times = []
    for _ in range(3):
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "grader", "ex2", str(SUBMISSIONS / "syntax_error.py")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()
        times.append(time.monotonic() - started)
        proc.communicate(timeout=60)
        assert first.startswith("Grading ex2")
    assert min(times) < 0.5, times


def test_every_readme_says_how_grade_gets_on_the_path():
    """The project's README, and the exercise's (which the template repository ships), say how
    `grade` gets on the PATH, and what they say works here: activating .venv finds it."""
    for readme in (ROOT / "README.md", ROOT / "exercises/ex2/README.md"):
        text = readme.read_text(encoding="utf-8")
        assert "source .venv/bin/activate" in text and ".venv/bin/grade" in text, readme
    found = subprocess.run(
        ["bash", "-c", "source .venv/bin/activate && command -v grade"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == str(ROOT / ".venv/bin/grade")
