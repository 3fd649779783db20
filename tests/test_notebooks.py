"""Real notebooks, graded end to end: magics, shell escapes, Colab, demos, crashes, unreadable files.

Every fixture under tests/notebooks/ is a real nbformat-4 notebook whose functions are those of the
reference solution (tests/notebooks/*.ipynb), with one nuisance or one mistake each. The tests
assert the exact score and what the report says. Grading takes seconds and a few fixtures hit the
30-s load limit, so the notebooks this run needs are graded up front, three at a time, once each.
"""

from __future__ import annotations

import ast
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import ROOT, scores_by_tag
from rich.console import Console

from grader.build import is_untouched_stub
from grader.grading import Options, grade
from grader.reports import terminal
from grader.result import GradeResult, Status
from grader.stubs import _segments

NOTEBOOKS = ROOT / "tests" / "notebooks"
DEFS_ONLY = (
    "notebook graded on its definitions only: demo code (training runs, plots, prints) was skipped"
)
SLOW = {
    ("every_nuisance.ipynb", False),
    ("every_nuisance.ipynb", True),
    ("training_demo_in_train_cell.ipynb", False),
}


def shimmed(name: str) -> str:
    return f"{name} is not installed here: its calls did nothing while grading"


def not_installed(*names: str) -> list[str]:
    """The notes for those of `names` this environment lacks (IPython comes with the dev extra)."""
    import importlib.util

    def missing(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is None
        except ModuleNotFoundError:
            return True

    return [shimmed(n) for n in names if missing(n)]


def grades(*jobs: tuple[str, bool] | str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare what a test reads: (notebook, run_all_cells) pairs, or "round-trip"."""

    def mark(test: Callable[..., Any]) -> Callable[..., Any]:
        test.jobs = jobs  # type: ignore[attr-defined]
        return test

    return mark


# -- the stub round trip: exercises/ex2/ex2.ipynb filled with the reference's code ----------------


def reference_code() -> tuple[str, dict[str, str]]:
    """The reference's imports and its code for each definition, markers removed."""
    source = (ROOT / "reference/ex2/solution.py").read_text(encoding="utf-8")
    clean = "\n".join(
        line
        for line in source.splitlines()
        if line.strip() not in ("# BEGIN SOLUTION", "# END SOLUTION")
    )
    imports, defs = "", {}
    for kind, text in _segments(clean + "\n"):
        if kind == "code":
            node = ast.parse(text).body[0]
            if isinstance(node, ast.Import | ast.ImportFrom):
                imports = text
            else:
                defs[node.name] = text
    return imports, defs


def filled_stub_notebook() -> nbformat.NotebookNode:
    nb = nbformat.read(ROOT / "exercises/ex2/ex2.ipynb", as_version=4)
    imports, defs = reference_code()
    for cell in nb.cells:
        if cell.cell_type == "code":
            node = ast.parse(cell.source).body[0]
            cell.source = (
                imports if isinstance(node, ast.Import | ast.ImportFrom) else defs[node.name]
            )
    return nb


def round_trip(folder: Path) -> tuple[int, str, dict[str, Any]]:
    """`grade ex2` run by a student in a folder holding only the filled-in stub notebook."""
    nbformat.write(filled_stub_notebook(), folder / "ex2.ipynb")
    out = folder.parent / "round-trip.json"
    proc = subprocess.run(
        [sys.executable, "-m", "grader", "ex2", "--json", str(out)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "GRADER_ROOT": str(ROOT), "COLUMNS": "200", "NO_COLOR": "1"},
    )
    return (
        proc.returncode,
        proc.stdout + proc.stderr,
        json.loads(out.read_text()) if out.is_file() else {},
    )


# -- grading, three at a time (the slow ones mostly wait on a clock), each job once ---------------------------------------------------------


@pytest.fixture(scope="module")
def graded(request: pytest.FixtureRequest, ex2, tmp_path_factory: pytest.TempPathFactory):
    from grader import golden

    (
        golden.public(ex2),
        golden.hidden(ex2),
    )  # record or read the golden values before the threads start

    def run(job: tuple[str, bool] | str) -> Any:
        if job == "round-trip":
            folder = tmp_path_factory.mktemp("student") / "ex2"
            folder.mkdir()
            return round_trip(folder)
        name, run_all = job
        return grade(
            ex2,
            NOTEBOOKS / name,
            Options(
                devices=["cpu", "meta"],
                hidden=True,
                run_all_cells=run_all,
                load_timeout=LOAD_TIMEOUT if run_all else None,
            ),
        )

    wanted = {
        job
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        for job in getattr(getattr(item, "function", None), "jobs", ())
    }
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="grade")
    futures: dict[Any, Future[Any]] = {
        job: pool.submit(run, job) for job in sorted(wanted, key=lambda j: (j not in SLOW, str(j)))
    }

    def get(job: tuple[str, bool] | str) -> Any:
        if job not in futures:
            futures[job] = pool.submit(run, job)
        return futures[job].result()

    yield get
    pool.shutdown(cancel_futures=True)


LOAD_TIMEOUT = 5  # seconds a notebook statement may run while loading, in run-all-cells tests (the config says 30)


def failed(result: GradeResult) -> list[tuple[str, str]]:
    return [(t.name, t.reason) for t in result.tests if t.status is Status.failed]


def load_errors(result: GradeResult) -> list[dict[str, str]]:
    return [e.model_dump() for e in result.load_errors]


def err(cell: str, error: str, first_line: str, where: str | None = None) -> dict[str, str]:
    return {
        "label": cell,
        "error": error,
        "where": f"{cell}, line 1" if where is None else where,
        "first_line": first_line,
    }


def timed_out(cell: str, first_line: str) -> dict[str, str]:
    return {
        "label": cell,
        "error": f"timed out after {LOAD_TIMEOUT} s: this statement was skipped",
        "where": "",
        "first_line": first_line,
    }


def points(result: GradeResult, *functions: str) -> float:
    return sum(t.max_score for t in result.tests if t.tags[0] in functions)


# -- the fixtures themselves -------------------------------------------------------------------------

READABLE = sorted(
    p.name
    for p in NOTEBOOKS.glob("*.ipynb")
    if p.name not in ("truncated.ipynb", "empty.ipynb", "nbformat3.ipynb", "latin1.ipynb")
)


@pytest.mark.parametrize("name", READABLE)
def test_fixture_is_a_valid_nbformat_4_notebook(name):
    raw = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
    nb = nbformat.reads(json.dumps(raw), as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    minor = {"colab.ipynb": 0, "out_of_order_cells.ipynb": 4}.get(name, 5)
    assert (raw["nbformat"], raw["nbformat_minor"]) == (4, minor)
    assert all(("id" in c) == (minor >= 5) for c in raw["cells"]), (
        "cell ids exist from nbformat 4.5 on"
    )
    assert isinstance(raw["cells"][1]["source"], list), (
        "saved as Jupyter does: sources as lists of lines"
    )


def test_colab_fixture_carries_colab_metadata():
    raw = json.loads((NOTEBOOKS / "colab.ipynb").read_text(encoding="utf-8"))
    assert raw["metadata"]["colab"]["provenance"] == [] and raw["metadata"]["accelerator"] == "GPU"
    assert all("id" in c["metadata"] for c in raw["cells"]), (
        "Colab keeps its cell ids in the metadata"
    )
    assert "drive.mount('/content/drive')" in "".join(raw["cells"][1]["source"])


def test_out_of_order_fixture_was_run_out_of_order():
    nb = nbformat.read(NOTEBOOKS / "out_of_order_cells.ipynb", as_version=4)
    counts = [
        c.execution_count
        for c in nb.cells
        if c.cell_type == "code" and c.execution_count is not None
    ]
    assert counts != sorted(counts)
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    uses = next(i for i, s in enumerate(sources) if "_row_logsumexp(logits)" in s)
    defines = next(i for i, s in enumerate(sources) if s.startswith("def _row_logsumexp"))
    assert uses < defines


# -- the stub round trip -------------------------------------------------------------------------


def test_stub_notebook_is_the_generated_one_with_one_cell_per_definition(ex2):
    stub = ROOT / "exercises/ex2/ex2.ipynb"
    assert is_untouched_stub(ex2, stub)
    nb = nbformat.read(stub, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    _, defs = reference_code()
    assert len(code) == 1 + len(defs) == 30
    assert all("NotImplementedError" in c.source for c in code[1:])
    filled = filled_stub_notebook()
    assert [c.get("id") for c in filled.cells] == [c.get("id") for c in nb.cells]
    assert not any("NotImplementedError" in c.source for c in filled.cells if c.cell_type == "code")


@grades("round-trip")
def test_round_trip_stub_filled_in_and_graded_by_grade_ex2_in_its_folder(graded):
    code, out, result = graded("round-trip")
    assert code == 0, out
    assert (result["score"], result["max_score"], result["extra_data"]["hidden_tests_run"]) == (
        100,
        100,
        True,
    ), out
    assert result["extra_data"]["load_errors"] == [] and result["extra_data"]["error"] == ""
    assert all(t["status"] == "passed" for t in result["tests"])
    assert "ex2.ipynb" in out and DEFS_ONLY in out


# -- magics and shell escapes -----------------------------------------------------------------------


@grades(("magics.ipynb", False))
def test_magics_cost_no_points(graded):
    result = graded(("magics.ipynb", False))
    assert (result.score, result.error, failed(result), load_errors(result)) == (100, "", [], [])


@grades(("magics.ipynb", False))
def test_magics_notes_name_only_the_stand_ins_the_notebook_used(graded):
    """magics.ipynb imports no plotting, progress-bar or data-frame package."""
    result = graded(("magics.ipynb", False))
    assert result.notes == [DEFS_ONLY]


@grades(("shell_escapes.ipynb", False))
def test_shell_escapes_cost_no_points(graded):
    result = graded(("shell_escapes.ipynb", False))
    assert (result.score, result.error, failed(result), load_errors(result)) == (100, "", [], [])
    assert result.notes == [DEFS_ONLY]


@grades(("black_formatted_not_equal.ipynb", False))
def test_not_equal_starting_a_continuation_line_is_python_not_a_shell_escape(graded):
    """`black` splits long comparisons before `!=`: hinge_loss's cell is valid Python."""
    result = graded(("black_formatted_not_equal.ipynb", False))
    assert (result.score, load_errors(result), failed(result)) == (100, [], [])


# -- definitions-only mode ---------------------------------------------------------------------------


@grades(("lambda_and_partial_definitions.ipynb", False))
def test_graded_names_bound_by_lambda_or_partial_are_definitions(graded):
    """`relu = lambda x: x.clamp(min=0)` defines relu as surely as a `def` does."""
    result = graded(("lambda_and_partial_definitions.ipynb", False))
    assert (result.score, failed(result), load_errors(result)) == (100, [], [])


@grades(("out_of_order_cells.ipynb", False))
def test_out_of_order_cells_run_in_document_order_and_cost_nothing(graded):
    """Helpers, constants and a rewritten relu come after the functions using them."""
    result = graded(("out_of_order_cells.ipynb", False))
    assert (result.score, result.error, failed(result), load_errors(result)) == (100, "", [], [])
    assert result.notes == [DEFS_ONLY]


# -- a syntax error ---------------------------------------------------------------------------------


@grades(("syntax_error_in_hinge_loss.ipynb", False))
def test_syntax_error_cell_costs_exactly_hinge_loss(graded):
    result = graded(("syntax_error_in_hinge_loss.ipynb", False))
    hinge = [t.name for t in result.tests if "hinge_loss" in t.tags]
    assert len(hinge) >= 2 and points(result, "hinge_loss") > 0
    assert failed(result) == [
        (name, "AttributeError: the submission does not define `hinge_loss`") for name in hinge
    ]
    assert scores_by_tag(result)["hinge_loss"] == (0, points(result, "hinge_loss"))
    assert result.score == 100 - points(result, "hinge_loss")


@grades(("syntax_error_in_hinge_loss.ipynb", False))
def test_syntax_error_report_names_cell_14_and_its_first_line(graded):
    result = graded(("syntax_error_in_hinge_loss.ipynb", False))
    first = "def hinge_loss(scores, targets, margin=1.0):"
    assert load_errors(result) == [
        err("In [9]", "SyntaxError: '(' was never closed", first, where="In [9], line 2")
    ]
    assert result.notes == [DEFS_ONLY] and result.error == ""
    console = Console(file=io.StringIO(), width=200, no_color=True, highlight=False)
    terminal.render(result, console)
    text = console.file.getvalue()
    assert (
        f"In [9], line 2: SyntaxError: '(' was never closed  (the cell starting `{first}`)" in text
    )
    assert "the submission does not define `hinge_loss`" in text


# -- crashing demo cells ----------------------------------------------------------------------------


@grades(("crashing_demo_cells.ipynb", False))
def test_crashing_demo_cells_cost_no_points(graded):
    result = graded(("crashing_demo_cells.ipynb", False))
    assert (result.score, result.error, failed(result)) == (100, "", [])
    assert result.notes == [DEFS_ONLY]


@grades(("crashing_demo_cells.ipynb", False))
def test_crashing_demo_cells_do_not_run_in_definitions_only_mode(graded):
    """Cell 27 (`model = MLP(2, 8, 2)` / `logits = model(torch.randn(5, 3))`) is a demo, not a constant."""
    result = graded(("crashing_demo_cells.ipynb", False))
    assert load_errors(result) == []


@grades(("crashing_demo_cells.ipynb", True))
def test_run_all_cells_lists_every_crashing_cell_and_costs_nothing(graded):
    result = graded(("crashing_demo_cells.ipynb", True))
    assert (result.score, result.error, failed(result)) == (100, "", [])
    assert load_errors(result) == [
        err(
            "In [14]",
            "AssertionError: relu looks wrong?",
            "assert relu(torch.tensor([-1.0])).item() == -1.0, 'relu looks wrong?'",
            where="In [14], line 2",
        ),
        err(
            "In [23]",
            "RuntimeError: mat1 and mat2 shapes cannot be multiplied (5x3 and 2x8)",
            "model = MLP(2, 8, 2)",
            where="In [20], line 18",
        ),  # raised inside MLP.forward (In [20]), called from In [23]
        err(
            "In [30]",
            "IndexError: Dimension out of range (expected to be in range of [-2, 1], but got 2)",
            "print(softmax(torch.randn(4, 3), dim=2))",
            where="In [24], line 6",
        ),
        err(
            "In [31]",
            "RuntimeError: index 3 is out of bounds for dimension 1 with size 3",
            "print(cross_entropy(torch.randn(4, 3), torch.tensor([0, 1, 2, 3])))",
            where="In [26], line 7",
        ),
        err(
            "In [36]",
            "SystemExit: stop here: the rest is not finished",
            "raise SystemExit('stop here: the rest is not finished')",
        ),
    ]
    assert result.notes == []


# -- missing imports ----------------------------------------------------------------------------------


@grades(("missing_imports.ipynb", False))
def test_missing_imports_cost_only_the_functions_that_need_them(graded):
    """count_parameters uses `math` without importing it: it loses its points, and so does
    samples_needed, which the spec defines through it (10 × count_parameters). `helpers` (cell 3) and `torchmetrics`
    (imported at the top of accuracy's cell 37) are not installed, but no function uses them;
    matplotlib, seaborn, pandas, tqdm and IPython are replaced by stand-ins."""
    result = graded(("missing_imports.ipynb", False))
    broken = [t for t in result.tests if t.tags[0] in ("count_parameters", "samples_needed")]
    hint = "; may come from `count_parameters`, which fails its own tests"
    # samples_needed's tests declare that they use count_parameters: their reason says so
    assert failed(result) == [
        (
            t.name,
            "NameError: name 'math' is not defined"
            + (hint if t.tags[0] != "count_parameters" else ""),
        )
        for t in broken
    ]
    assert result.score == 100 - points(result, "count_parameters", "samples_needed")


@grades(("missing_imports.ipynb", False))
def test_missing_imports_report(graded):
    result = graded(("missing_imports.ipynb", False))
    assert load_errors(result) == [
        err(
            "In [2]",
            "ModuleNotFoundError: No module named 'helpers'",
            "from helpers import plot_decision_boundary  # the course's helper file (not hand",
        ),
        err(
            "In [31]",
            "ModuleNotFoundError: No module named 'torchmetrics'",
            "import torchmetrics  # to compare my accuracy with theirs",
        ),
    ]
    assert result.notes == [
        DEFS_ONLY,
        *not_installed("IPython", "matplotlib", "pandas", "seaborn", "tqdm"),
    ]


# -- Colab ----------------------------------------------------------------------------------------------


@grades(("colab.ipynb", False))
def test_colab_notebook_nbformat_4_0_full_marks(graded):
    result = graded(("colab.ipynb", False))
    assert (result.score, result.error, failed(result), load_errors(result)) == (100, "", [], [])
    assert result.notes == [DEFS_ONLY, shimmed("google.colab")]


@grades(("colab.ipynb", True))
def test_colab_drive_mount_and_upload_are_harmless_when_every_cell_runs(graded):
    result = graded(("colab.ipynb", True))
    assert (result.score, result.error, failed(result), load_errors(result)) == (100, "", [], [])
    assert result.notes == [shimmed("google.colab")]


# -- every nuisance at once ------------------------------------------------------------------------------

EVERY_NUISANCE_SHIMS = not_installed("IPython", "google.colab", "matplotlib", "tqdm")
HELPERS_CELL = err(
    "In [3]",
    "ModuleNotFoundError: No module named 'helpers'",
    "from helpers import plot_decision_boundary  # the course's helper file, not hand",
)


@grades(("every_nuisance.ipynb", False))
def test_every_nuisance_full_marks_by_default(graded):
    result = graded(("every_nuisance.ipynb", False))
    assert (result.score, result.error, failed(result)) == (100, "", [])
    assert result.notes == [DEFS_ONLY, *EVERY_NUISANCE_SHIMS]


@grades(("every_nuisance.ipynb", False))
def test_every_nuisance_demo_cells_do_not_run_by_default(graded, ex2):
    """Definitions only: the circles training demo (cell 47) must not run, so the only cell that
    fails to load is the import of the course's helper file, and grading is not held up."""
    result = graded(("every_nuisance.ipynb", False))
    assert load_errors(result) == [HELPERS_CELL]
    assert result.duration_s < ex2.config.limits.load_timeout


@grades(("every_nuisance.ipynb", True))
def test_run_all_cells_stops_long_demos_at_the_load_limit_without_losing_points(graded, ex2):
    result = graded(("every_nuisance.ipynb", True))
    assert (result.score, result.error, failed(result)) == (100, "", [])
    skipped = [e for e in load_errors(result) if "timed out" in e["error"]]
    assert skipped == [
        timed_out("In [40]", "X = torch.randn(4000, 2)"),
        timed_out("In [41]", "time.sleep(600)  # let the GPU cool down"),
    ]
    assert result.notes == EVERY_NUISANCE_SHIMS


@grades(("every_nuisance.ipynb", True))
def test_run_all_cells_report_lists_exactly_the_cells_that_fail(graded):
    """Cell 19 (`fig, axes = plt.subplots(1, 2)` with matplotlib missing) is a plot, not an error."""
    result = graded(("every_nuisance.ipynb", True))
    assert sorted(load_errors(result), key=lambda e: int(e["label"].strip("In []"))) == [
        err(
            "In [2]",
            "EOFError: input() reads nothing while grading",
            "student_id = input('Your student id: ')",
        ),
        HELPERS_CELL,
        err(
            "In [32]",
            "AssertionError: check my gradient",
            "assert grad_f(2, 3).tolist() == [4.0, 2.0], 'check my gradient'",
            where="In [32], line 2",
        ),
        err(
            "In [34]",
            "IndexError: Dimension out of range (expected to be in range of [-2, 1], but got 2)",
            "print(softmax(torch.randn(4, 3), dim=2))",
            where="In [61], line 6",
        ),
        timed_out("In [40]", "X = torch.randn(4000, 2)"),
        timed_out("In [41]", "time.sleep(600)  # let the GPU cool down"),
        err(
            "In [43]",
            "SystemExit: not finished below this line",
            "raise SystemExit('not finished below this line')",
        ),
    ]


@grades(("training_demo_in_train_cell.ipynb", False))
def test_training_demo_below_train_in_the_same_cell_does_not_cost_train(graded):
    """Cell 35 defines train, then tries it on a run of several minutes: a demo, skipped by default."""
    result = graded(("training_demo_in_train_cell.ipynb", False))
    assert (result.score, load_errors(result), failed(result)) == (100, [], [])


# -- unreadable notebooks ------------------------------------------------------------------------------

UNREADABLE = {
    "truncated.ipynb": "truncated.ipynb is not a readable notebook: invalid JSON at line 334, column 5"
    " (was the file truncated or edited by hand?)",
    "empty.ipynb": "empty.ipynb is empty (0 bytes of notebook): was it saved?",
    "nbformat3.ipynb": "nbformat3.ipynb is notebook format 3: save it as format 4 (any recent Jupyter or Colab does)",
    "latin1.ipynb": "latin1.ipynb is not UTF-8 text (byte 104): is it really a notebook?",
}


def test_unreadable_fixtures_are_what_they_claim():
    assert (NOTEBOOKS / "empty.ipynb").stat().st_size == 0
    assert json.loads((NOTEBOOKS / "nbformat3.ipynb").read_text())["nbformat"] == 3
    with pytest.raises(json.JSONDecodeError):
        json.loads((NOTEBOOKS / "truncated.ipynb").read_text())
    data = (NOTEBOOKS / "latin1.ipynb").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert json.loads(data.decode("latin-1"))["nbformat"] == 4


@pytest.mark.parametrize("name", sorted(UNREADABLE))
def test_unreadable_notebook_gets_a_clear_error_and_zero(ex2, name):
    result = grade(ex2, NOTEBOOKS / name, Options(devices=["cpu", "meta"], hidden=True))
    assert (result.error, result.score, load_errors(result)) == (UNREADABLE[name], 0, [])
    assert result.tests and all(
        t.status is Status.failed and t.reason == UNREADABLE[name] for t in result.tests
    )


def test_unreadable_notebook_through_the_cli_exit_code_3_and_no_traceback(cli):
    run = cli("ex2", str(NOTEBOOKS / "nbformat3.ipynb"))
    assert run.code == 3, run.out
    assert UNREADABLE["nbformat3.ipynb"] in run.out and "Traceback" not in run.out
    assert run.result is not None and run.result["score"] == 0
