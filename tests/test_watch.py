"""Watch mode (`grade ex2 --watch`) and the `%grade` magic, run as a student runs them."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

from grader.exercise import find_exercise
from grader.markers import declared_uses
from grader.result import GradeResult, Status, TestResult, Visibility
from grader.submission import load_submission
from grader.watch import affected, kept, signature

SOLUTION = (ROOT / "reference/ex2/solution.py").read_text(encoding="utf-8")
GOOD, BAD = "return x.clamp(min=0)", "return x * 1.0"


def _shape(tmp_path: Path, source: str) -> dict:
    path = tmp_path / "ex2.py"
    path.write_text(source)
    return signature(load_submission(path, module="ex2"))


def test_an_edit_affects_its_function_and_whatever_reads_it(tmp_path):
    before = _shape(tmp_path, SOLUTION)
    assert affected(before, _shape(tmp_path, SOLUTION)) == set()
    assert affected(before, _shape(tmp_path, SOLUTION.replace(GOOD, BAD))) == {"relu"}
    # samples_needed is defined through count_parameters: it is re-run with it
    count = SOLUTION.index("def count_parameters")
    edited = SOLUTION[:count] + "# a comment\n" + SOLUTION[count:].replace("sum(", "sum( ", 1)
    names = affected(before, _shape(tmp_path, edited))
    assert names is not None and {"count_parameters", "samples_needed"} <= names
    # a change outside any definition (an import, a constant) runs everything
    assert affected(before, _shape(tmp_path, "import math\n" + SOLUTION)) is None


def test_an_edit_of_a_function_a_test_calls_itself_runs_that_test_again():
    """test_train calls sub.minibatches itself (`@pytest.mark.uses`): a student's train need not
    call minibatches for an edit of minibatches to change that test's result."""
    ex2 = find_exercise("ex2")
    uses = {(Visibility.visible, n): u for n, u in declared_uses(ex2.public_tests).items()}
    assert uses[Visibility.visible, "test_train"] == {"minibatches"}

    def test(name: str, tag: str) -> TestResult:
        return TestResult(
            name=name,
            part="Training",
            tags=[tag],
            max_score=1,
            score=1,
            status=Status.passed,
            visibility=Visibility.visible,
        )

    last = GradeResult.model_construct(
        tests=[
            test("test_train", "train"),
            test("test_minibatches", "minibatches"),
            test("test_relu", "relu"),
        ]
    )
    assert kept(last, {"minibatches"}, uses) == {"test_relu"}
    assert kept(last, {"relu"}, uses) == {"test_train", "test_minibatches"}


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _until(lines: queue.Queue[str], word: str, timeout: float) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if not line or line.startswith(word):
            break
    return "".join(seen)


@pytest.mark.slow
def test_watch_regrades_on_save_says_what_changed_and_stops_on_ctrl_c(tmp_path):
    path = tmp_path / "ex2.py"
    path.write_text(SOLUTION)
    proc = subprocess.Popen(
        [sys.executable, "-m", "grader", "ex2", "--watch", "--public-only"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # (faulthandler: a SIGABRT makes it print every thread's stack, should it not stop)
        env={
            **os.environ,
            "GRADER_ROOT": str(ROOT),
            "COLUMNS": "100",
            "NO_COLOR": "1",
            "PYTHONFAULTHANDLER": "1",
        },
    )
    lines = _lines(proc)
    try:
        first = _until(lines, "watching ", 300)
        assert "60 / 100 points" in first, first
        path.write_text(SOLUTION.replace(GOOD, BAD))
        second = _until(lines, "watching ", 120)
        assert "since the last run: score 60 → 58.5; now failing: relu" in second, second
        assert "ran 1 test the edit may change; the other 28 kept their last result" in second
        path.write_text(SOLUTION)
        third = _until(lines, "watching ", 120)
        assert "now passing: relu" in third and "60 / 100 points" in third, third
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            proc.wait(timeout=30)
            pytest.fail("no exit 60 s after Ctrl-C; its stacks:\n" + _until(lines, "\0", 10))
    rest = _until(lines, "\0", 10)  # what it printed after Ctrl-C, to its end
    assert proc.stdout is not None
    proc.stdout.close()
    assert proc.returncode == 0
    assert "stopped watching" in rest and "Traceback" not in rest


MAGIC = textwrap.dedent(
    """
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_cell("%load_ext grader", store_history=True)
    shell.run_cell(open("reference/ex2/solution.py").read(), store_history=True)
    shell.run_cell("import os\\nKERNEL = os.getpid()", store_history=True)
    shell.run_cell("def softmax(z, dim=-1):\\n    return z", store_history=True)
    shell.run_cell("%grade softmax", store_history=True)
    print("KERNEL-PID", shell.user_ns["KERNEL"])
    """
)


@pytest.mark.slow
def test_grade_magic_grades_the_kernels_definitions_in_the_sandbox():
    """A real IPython shell: the kernel's last definition of softmax (In [4]) is the one graded,
    and only its tests are reported."""
    proc = subprocess.run(
        [sys.executable, "-c", MAGIC],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "100", "NO_COLOR": "1"},
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "this kernel's definitions (In [1] to In [5])" in out, out
    assert "0 / 2.5 points" in out and "Fix first: softmax" in out, out
    assert "relu" not in out  # only the function asked for
    assert "Traceback" not in out
